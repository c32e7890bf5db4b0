import { refuse } from './errors.ts';

/** One instruction of a Dockerfile, split as the builder's parser splits it. */
export interface Instruction {
  /** The instruction, lower case (`from`, `copy`, `onbuild`, ...). */
  keyword: string;
  /** Its flags (`--from=x`), with the builder's quote and escape processing done, without the leading `--`. */
  flags: { name: string; value: string }[];
  /** What follows the flags, trimmed. */
  args: string;
  /** The Dockerfile's lines it spans, counting from 0, first and last (comment lines inside it included). */
  lines?: [number, number];
  /** The instruction's text as read: its lines joined, without the continuations' backslashes and the comments. */
  text?: string;
}

/**
 * Bytes the builder's flag reader takes for spaces: it reads the line byte by byte and asks Go's `unicode.IsSpace`
 * of each byte as a rune, which counts U+0085 and U+00A0 too.
 */
const FLAG_SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0]);

/** What Go's `unicode.IsSpace` trims at an end of a UTF-8 string, spelled in bytes (the text here is latin1). */
const GO_SPACE = String.raw`(?:[\t\n\v\f\r ]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80)`;
const LEADING_SPACE = new RegExp(`^${GO_SPACE}+`);
const TRAILING_SPACE = new RegExp(`${GO_SPACE}+$`);

/** The whitespace the parser splits an instruction from its arguments, and words, at: ASCII only. */
export const WORD_SPACE: RegExp = /[\t\v\f\r ]+/;

/** `strings.TrimSpace`, on text that is one character per byte. */
export function goTrim(text: string): string {
  return text.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

/**
 * A Dockerfile's instructions as the builder's parser reads them, from its bytes (one character per byte, latin1):
 * a byte-order mark is dropped; a line ending in `\` goes on on the next, joined as it is; comment lines and empty
 * lines inside such a line are dropped; the instruction is the first word (split at ASCII whitespace), and its flags
 * are read byte by byte, quotes and escapes processed, as `extractBuilderFlags` reads them.
 *
 * @param dockerfile - the Dockerfile's bytes as a latin1 string
 * @returns the instructions, in order
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` for an `escape` parser directive other
 *   than `\`, which this does not read
 * @example
 * ```ts
 * parseDockerfile('FROM busybox\nCOPY --fr"om"=x / /\n')[1]; // { keyword: 'copy', flags: [{ name: 'from', value: 'x' }], args: '/ /' }
 * ```
 */
export function parseDockerfile(dockerfile: string): Instruction[] {
  const lines = dockerfile.replace(/^\xef\xbb\xbf/, '').split('\n');
  // parser directives come first, as comments of the form `# key=value`
  for (const line of lines) {
    // as Go's regexp, where `.` is any character but a newline (a carriage return too: found by review, stop 26,
    // a `# syntax=` with one inside was no directive here, and the `# escape=` after it went unseen)
    const m = /^#[\t\n\f\r ]*([A-Za-z][A-Za-z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/.exec(
      line.replace(/[\r\n]+$/, '').replace(LEADING_SPACE, ''),
    );
    if (!m) break;
    if (m[1]!.toLowerCase() === 'escape' && m[2] !== '\\')
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'a Dockerfile with an escape directive cannot be checked here; use the default escape character',
      );
  }
  const out: Instruction[] = [];
  let current: string | undefined;
  let first = 0;
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/[\r\n]+$/, '');
    const stripped = line.replace(LEADING_SPACE, '');
    if (stripped.startsWith('#')) continue;
    if (current !== undefined && stripped === '') continue;
    if (current === undefined) first = i;
    const text = current === undefined ? stripped : line;
    // a line ending in an escaped backslash (`\\`) continues to Engine 20.10's parser and not to Engine 26's, so
    // it cannot be read as the engine at hand reads it (found by review, stop 26: the line after it was an
    // instruction to the engine, and part of the line before here)
    if (/\\\\[ \t]*$/.test(text))
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'a Dockerfile line that ends in two backslashes cannot be checked here; put the escaped backslash elsewhere',
      );
    const continues = /\\[ \t]*$/.test(text);
    const joined = (current ?? '') + (continues ? text.replace(/\\[ \t]*$/, '') : text);
    if (continues) current = joined;
    else {
      current = undefined;
      if (joined !== '')
        out.push(checked({ ...parseInstruction(joined), lines: [first, i], text: joined }, joined));
    }
  }
  if (current !== undefined && goTrim(current) !== '')
    out.push(
      checked({ ...parseInstruction(current), lines: [first, lines.length - 1], text: current }, current),
    );
  return out;
}

/**
 * Refuses a heredoc (`RUN <<EOF`): the builder's parser takes the lines after it, up to its end word, as its
 * content, where this reads them as instructions; comments, continuations and instructions hide there.
 */
function checked(ins: Instruction, line: string): Instruction {
  let keyword = ins.keyword;
  if (keyword === 'onbuild') keyword = parseInstruction(ins.args).keyword;
  if ((keyword === 'run' || keyword === 'copy' || keyword === 'add') && line.includes('<<'))
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      `a Dockerfile with a heredoc (<<) cannot be checked here; write the lines out, or build with BuildKit`,
    );
  return ins;
}

/**
 * One instruction line, split as the parser's `splitCommand` splits it: the instruction at the first run of ASCII
 * whitespace, then its flags.
 *
 * @param line - the joined line, latin1
 * @returns the instruction
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_IMAGE_POLICY` for an instruction word with a byte outside
 *   ASCII
 */
export function parseInstruction(line: string): Instruction {
  const trimmed = goTrim(line);
  const at = trimmed.search(WORD_SPACE);
  const word = at === -1 ? trimmed : trimmed.slice(0, at);
  // the builder lowercases the instruction as Unicode (Go's strings.ToLower), where `ONBUİLD` (U+0130) and a
  // Kelvin sign read as ASCII letters: such an instruction was a keyword to the builder and none here, whose
  // heredoc then hid instructions from the check (found by review, stop 26: a COPY --from another tenant's image)
  if (/[^\x00-\x7f]/.test(word))
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      'a Dockerfile instruction spelled with letters outside ASCII cannot be checked here',
    );
  const keyword = word.toLowerCase();
  if (at === -1) return { keyword, flags: [], args: '' };
  const { words, rest } = builderFlags(trimmed.slice(at).replace(WORD_SPACE, ''));
  const flags = words.map((w) => {
    const body = w.slice(2);
    const eq = body.indexOf('=');
    return eq === -1 ? { name: body, value: '' } : { name: body.slice(0, eq), value: body.slice(eq + 1) };
  });
  return { keyword, flags, args: goTrim(rest) };
}

/**
 * The flags at the start of an instruction's arguments, read as the builder's `extractBuilderFlags` reads them: byte
 * by byte, words that start with `--`, quotes and backslash escapes processed, `--` alone ending the flags.
 */
function builderFlags(text: string): { words: string[]; rest: string } {
  const words: string[] = [];
  const n = text.length;
  let i = 0;
  for (;;) {
    while (i < n && FLAG_SPACE.has(text.charCodeAt(i))) i++;
    if (i >= n) return { words, rest: '' };
    if (text[i] !== '-' || text[i + 1] !== '-') return { words, rest: text.slice(i) };
    let word = '';
    let quote = '';
    let quoted = false;
    while (i < n) {
      const c = text[i]!;
      if (quote !== '') {
        if (c === quote) quote = '';
        else if (c === '\\') {
          if (i + 1 === n) quote = '';
          else word += text[++i];
        } else word += c;
        i++;
        continue;
      }
      if (FLAG_SPACE.has(c.charCodeAt(0))) break;
      if (c === '"' || c === "'") {
        quote = c;
        quoted = true;
      } else if (c === '\\') {
        if (i + 1 < n) word += text[++i];
      } else word += c;
      i++;
    }
    if (i >= n) {
      if (word !== '--' && (quoted || word !== '')) words.push(word);
      return { words, rest: '' };
    }
    if (word === '--') return { words, rest: text.slice(i) };
    if (quoted || word !== '') words.push(word);
  }
}

/** What Go's `unicode.IsSpace` counts as space. */
const RUNE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

/**
 * An `ARG` or `ENV` line's words as the builder's parser splits them (`parseWords`): at Unicode spaces, except inside
 * quotes; quotes and escapes are kept in the words, for the word processing that comes later.
 *
 * @param text - the instruction's arguments, latin1
 * @returns the words, UTF-8 decoded
 */
export function argWords(text: string): string[] {
  const runes = Buffer.from(text, 'latin1').toString('utf8');
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote = '';
  let blankOk = false;
  const chars = [...runes];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (quote !== '') {
      if (c === quote) quote = '';
      else if (c === '\\' && quote !== "'") {
        if (i + 1 === chars.length) {
          quote = '';
          continue;
        }
        word += c;
        word += chars[++i];
        continue;
      }
      word += c;
      continue;
    }
    if (!inWord) {
      if (RUNE_SPACE.test(c)) continue;
      inWord = true;
    }
    if (RUNE_SPACE.test(c)) {
      if (blankOk || word !== '') words.push(word);
      word = '';
      blankOk = false;
      inWord = false;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      blankOk = true;
    }
    if (c === '\\') {
      if (i + 1 === chars.length) continue;
      word += c;
      word += chars[++i];
      continue;
    }
    word += c;
  }
  if (inWord && (blankOk || word !== '')) words.push(word);
  return words;
}
