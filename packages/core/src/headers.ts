/**
 * Hop-by-hop headers that never cross the proxy as they are (RFC 9110 §7.6.1), and `Expect`: `node:http` has
 * answered `100-continue` itself, and the engine gets the body anyway.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'expect',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * An ordered list of HTTP header fields that keeps duplicates and the sender's casing, read and changed by
 * case-insensitive name.
 *
 * @example
 * ```ts
 * const h = new HeaderList(['Content-Type', 'application/json']);
 * h.get('content-type'); // 'application/json'
 * ```
 */
export class HeaderList {
  /** Flat `[name, value, name, value, ...]`. */
  readonly raw: string[];

  /** @param raw - flat `[name, value, ...]` pairs; the array is taken over, not copied */
  constructor(raw: string[] = []) {
    this.raw = raw;
  }

  /**
   * @param name - the field name, any case
   * @returns the first value, or `undefined`
   */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.raw.length; i += 2)
      if (this.raw[i]!.toLowerCase() === lower) return this.raw[i + 1];
    return undefined;
  }

  /**
   * Replaces every field of that name with one, where the first of them was (a new field goes last): the head keeps
   * the order the engine wrote it in.
   *
   * @param name - the field name
   * @param value - its value
   */
  set(name: string, value: string): void {
    const lower = name.toLowerCase();
    const at = this.raw.findIndex((n, i) => i % 2 === 0 && n.toLowerCase() === lower);
    if (at === -1) {
      this.raw.push(name, value);
      return;
    }
    this.delete(name);
    this.raw.splice(at, 0, name, value);
  }

  /**
   * Removes every field of that name.
   *
   * @param name - the field name, any case
   */
  delete(name: string): void {
    const lower = name.toLowerCase();
    for (let i = this.raw.length - 2; i >= 0; i -= 2)
      if (this.raw[i]!.toLowerCase() === lower) this.raw.splice(i, 2);
  }

  /**
   * The fields to forward to the other side: hop-by-hop fields removed, and `Content-Length` removed too when
   * the body is re-framed.
   *
   * @param dropLength - whether to drop `Content-Length`
   * @returns a new flat array
   * @internal
   */
  forwardable(dropLength: boolean): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.raw.length; i += 2) {
      const lower = this.raw[i]!.toLowerCase();
      if (HOP_BY_HOP.has(lower) || (dropLength && lower === 'content-length')) continue;
      out.push(this.raw[i]!, this.raw[i + 1]!);
    }
    return out;
  }
}

/**
 * Converts undici's raw header buffers to strings.
 *
 * @param raw - `[name, value, ...]` as buffers or strings
 * @returns a flat string array
 * @internal
 */
export function rawToStrings(raw: readonly (Buffer | string)[] | null | undefined): string[] {
  const out: string[] = new Array(raw?.length ?? 0);
  if (raw) for (let i = 0; i < raw.length; i++) out[i] = raw[i]!.toString('latin1');
  return out;
}
