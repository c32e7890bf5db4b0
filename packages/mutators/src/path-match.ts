/**
 * Whether a name matches a shell pattern, read as Go's `path.Match` reads it: the daemon's `reference` filter of
 * an image list matches image names with it, and the proxy evaluates that filter itself, over the images the
 * tenant sees (found by review, stop 25: the engine's answer to a filter it evaluated over every image told which
 * of other tenants' names existed).
 *
 * `*` is any run of characters but `/`, `?` one character but `/`, `[...]` a class of characters or ranges
 * (`[^...]` its complement), and `\` makes the next character plain. A malformed pattern is an error, as in Go,
 * also where the name fails to match before the bad part (`[`, `a[`, `[]`, `[a-]`, a trailing `\`).
 *
 * @param pattern - the pattern
 * @param name - the name
 * @returns whether it matches
 * @throws {@link BadPatternError} when the pattern is malformed
 * @example
 * ```ts
 * pathMatch('busy*', 'busybox'); // true
 * pathMatch('*', 'team/app'); // false: `*` does not cross `/`
 * ```
 */
export function pathMatch(pattern: string, name: string): boolean {
  let p = [...pattern];
  let s = [...name];
  outer: while (p.length > 0) {
    const { star, chunk, rest } = nextChunk(p);
    p = rest;
    // a trailing star takes the rest of the name, unless it crosses a `/`
    if (star && chunk.length === 0) return !s.includes('/');
    const here = matchChunk(chunk, s);
    if (here !== undefined && (here.length === 0 || p.length > 0)) {
      s = here;
      continue;
    }
    if (star) {
      // the star takes one more character each time, never a `/`
      for (let i = 0; i < s.length && s[i] !== '/'; i++) {
        const later = matchChunk(chunk, s.slice(i + 1));
        if (later === undefined || (p.length === 0 && later.length > 0)) continue;
        s = later;
        continue outer;
      }
    }
    // no match: what is left of the pattern must still be well formed
    while (p.length > 0) {
      const next = nextChunk(p);
      p = next.rest;
      matchChunk(next.chunk, []);
    }
    return false;
  }
  return s.length === 0;
}

/** A pattern Go's `path.Match` refuses (`syntax error in pattern`, as the daemon words it). */
export class BadPatternError extends Error {
  /** The pattern refused. */
  readonly pattern: string;

  /** @param pattern - the pattern refused */
  constructor(pattern: string) {
    super('syntax error in pattern');
    this.name = 'BadPatternError';
    this.pattern = pattern;
  }
}

/** The stars that start a pattern, and its text up to the next star outside a class. */
function nextChunk(p: readonly string[]): { star: boolean; chunk: string[]; rest: string[] } {
  let i = 0;
  while (i < p.length && p[i] === '*') i++;
  const star = i > 0;
  const start = i;
  let inClass = false;
  for (; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      if (i + 1 < p.length) i++;
    } else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '*' && !inClass) break;
  }
  return { star, chunk: p.slice(start, i), rest: p.slice(i) };
}

/**
 * Matches a chunk (no star) against the start of `s`: what is left of `s`, or `undefined` when it does not match.
 * Once the match has failed, the rest of the chunk is still read, to refuse a malformed one.
 */
function matchChunk(chunkIn: readonly string[], sIn: readonly string[]): string[] | undefined {
  const chunk = [...chunkIn];
  const s = [...sIn];
  let failed = false;
  const bad = () => new BadPatternError(chunkIn.join(''));
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    const c = chunk.shift()!;
    if (c === '[') {
      const ch = failed ? '' : s.shift()!;
      const negated = chunk[0] === '^';
      if (negated) chunk.shift();
      let matched = false;
      let ranges = 0;
      for (;;) {
        if (chunk[0] === ']' && ranges > 0) {
          chunk.shift();
          break;
        }
        const lo = classChar(chunk, bad);
        let hi = lo;
        if (chunk[0] === '-') {
          chunk.shift();
          hi = classChar(chunk, bad);
        }
        if (!failed && lo <= ch.codePointAt(0)! && ch.codePointAt(0)! <= hi) matched = true;
        ranges++;
      }
      if (matched === negated) failed = true;
    } else if (c === '?') {
      if (!failed && s.shift() === '/') failed = true;
    } else {
      let plain = c;
      if (c === '\\') {
        if (chunk.length === 0) throw bad();
        plain = chunk.shift()!;
      }
      if (!failed && s.shift() !== plain) failed = true;
    }
  }
  return failed ? undefined : s;
}

/** One character of a class (`\` makes the next plain), as a code point; the class must go on after it. */
function classChar(chunk: string[], bad: () => BadPatternError): number {
  if (chunk.length === 0 || chunk[0] === '-' || chunk[0] === ']') throw bad();
  if (chunk[0] === '\\') {
    chunk.shift();
    if (chunk.length === 0) throw bad();
  }
  const c = chunk.shift()!;
  if (chunk.length === 0) throw bad();
  return c.codePointAt(0)!;
}
