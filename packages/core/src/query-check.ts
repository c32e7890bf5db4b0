/** What the engine's Go server reads otherwise than `URLSearchParams` in a query, besides escapes: a `;`, a raw byte beyond ASCII. */
const UNREADABLE = /;|[^\x21-\x7e]/;

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
  // (`URLSearchParams` drops a leading `?`, which Go keeps in the first key: `??all=1`, found by review, stop 27)
  if (raw.startsWith('?') || UNREADABLE.test(raw)) return false;
  // every escape well formed, and what they spell UTF-8 (overlong forms and surrogates are not)
  try {
    decodeURIComponent(raw);
    return true;
  } catch {
    return false;
  }
}
