import { isUtf8 } from 'node:buffer';

/** What the engine's Go server reads otherwise than `URLSearchParams` in a query: a `;`, a bad escape, a raw byte beyond ASCII. */
const UNREADABLE = /;|%(?![0-9A-Fa-f]{2})|[^\x21-\x7e]/;

/**
 * Whether a raw query string is read alike by the proxy (`URLSearchParams`) and by the engine (Go's
 * `url.ParseQuery`). Go drops a pair holding a `;` or a bad `%` escape, and keeps the bytes of an escape that is
 * not UTF-8, where `URLSearchParams` keeps the first and reads the others as U+FFFD: a check of one value would
 * pass another to the engine (found by review, stop 27: `dockerfile=x;y` built the default Dockerfile on the
 * engine, `dockerfile=%FF` a file whose name is the byte 0xFF). No Docker client sends such a query.
 *
 * @param raw - the query string, without `?`
 * @returns `false` for a query the two read differently
 * @example
 * ```ts
 * readableQuery('all=1&filters=%7B%7D'); // true
 * readableQuery('dockerfile=x;y'); // false
 * ```
 * @internal
 */
export function readableQuery(raw: string): boolean {
  if (raw === '') return true;
  // (`URLSearchParams` drops a leading `?`, which Go keeps in the first key: `??all=1`, found by review, stop 27)
  if (raw.startsWith('?') || UNREADABLE.test(raw)) return false;
  if (!raw.includes('%')) return true;
  const bytes = raw.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  return isUtf8(Buffer.from(bytes, 'latin1'));
}
