/** The fields the engine's server puts on every answer, in the order Go writes them (sorted by name). */
const NAMES = ['Api-Version', 'Docker-Experimental', 'Ostype', 'Server'] as const;
const LOWER = NAMES.map((n) => n.toLowerCase());

/** How long a learned identity is kept before the next parsed engine answer refreshes it (the engine may restart). */
const REFRESH_MS = 5_000;

/**
 * The headers the Docker engine puts on every answer: `Api-Version`, `Docker-Experimental`, `Ostype` and `Server`.
 * The proxy learns them from the engine's answers and puts them on the answers it writes itself (refusals, and
 * answers a middleware made with `ctx.respond`), with the rest of the head in the order the engine's Go server
 * writes it: the fields sorted by name, then `Date`, then the framing. A refusal then reads as the engine's own
 * answer, and a client cannot tell by its head whether the proxy or the engine answered (a hidden object's 404 from
 * a missing one's, where one route is answered by each). Until the engine has answered once, own answers carry
 * only `Content-Type` and `Date`.
 *
 * @example
 * ```ts
 * const identity = new EngineIdentity();
 * identity.learn((name) => reply.headers[name.toLowerCase()] as string | undefined);
 * identity.head(['Content-Type', 'application/json']);
 * // ['Api-Version', '1.45', 'Content-Type', 'application/json', 'Docker-Experimental', 'false', 'Ostype',
 * //  'linux', 'Server', 'Docker/26.1.5 (linux)', 'Date', 'Sat, 05 Dec 2026 02:43:23 GMT']
 * ```
 */
export class EngineIdentity {
  #values: (string | undefined)[] = NAMES.map(() => undefined);
  #learnedAt = Number.NEGATIVE_INFINITY;
  #refresh: (() => void) | undefined;

  /**
   * @param refresh - asked to learn the identity again, in the background, when an own answer finds it older than
   *   a few seconds: a proxy whose other answers all pass as bytes (parsed by nobody) learns an engine's upgrade too
   */
  constructor(refresh?: () => void) {
    this.#refresh = refresh;
  }

  /** Whether the identity is worth learning again from the next engine answer parsed anyway. */
  get due(): boolean {
    return performance.now() - this.#learnedAt > REFRESH_MS;
  }

  /**
   * Learns the identity from an answer of the engine.
   *
   * @param get - a header of the answer, by its lower-case name
   */
  learn(get: (lowerName: string) => string | undefined): void {
    // an answer without `Server` is no engine's (a test double, a proxy in between): nothing is learned from it
    const server = get('server');
    if (server === undefined) return;
    this.#values = LOWER.map((n) => get(n));
    this.#learnedAt = performance.now();
  }

  /**
   * Learns the identity from an engine answer the proxy reads anyway, once what it knows is more than a few seconds
   * old: the engine may have been upgraded since.
   *
   * @param get - a header of the answer, by its lower-case name
   */
  notice(get: (lowerName: string) => string | undefined): void {
    if (this.due) this.learn(get);
  }

  /**
   * The head fields of an answer the proxy writes itself: the identity and `fields`, sorted by name as the engine's
   * server writes them, then `Date`. The framing (`Content-Length` or `Transfer-Encoding`) goes after.
   *
   * @param fields - the answer's own fields, flat `[name, value, ...]` (`Content-Type`)
   * @returns the fields to write, flat
   */
  head(fields: readonly string[]): string[] {
    if (this.due) this.#refresh?.();
    const pairs: [string, string][] = [];
    for (let i = 0; i < NAMES.length; i++) {
      const value = this.#values[i];
      if (value !== undefined) pairs.push([NAMES[i]!, value]);
    }
    for (let i = 0; i < fields.length; i += 2) pairs.push([fields[i]!, fields[i + 1]!]);
    // Go compares the canonical names byte by byte
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const out = pairs.flat();
    out.push('Date', new Date().toUTCString());
    return out;
  }
}
