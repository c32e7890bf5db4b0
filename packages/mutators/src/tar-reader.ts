import { refuse } from './errors.ts';

/** One entry of a tar archive, after its PAX and GNU long-name headers are applied. */
export interface TarEntry {
  /** The entry's name as the archive gives it, one character per byte (latin1), so that no byte is lost. */
  name: string;
  /**
   * `file`, `dir`, `symlink`, `hardlink`, `special` (character or block device, FIFO), or `global` for a PAX global
   * header, which Go returns as an entry of its own and the engine's unpack ignores.
   */
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'special' | 'global';
  /** A link's target, latin1 like `name`. */
  linkname: string;
  /** The size of the entry's data: 0 for links, directories, devices and FIFOs, whatever their header says. */
  size: number;
  /** The entry's data, for the entries `wantData` asked for. */
  data?: Buffer;
}

/** The most a PAX or GNU long-name header may hold, as Go's reader allows (`maxSpecialFileSize`). */
const MAX_SPECIAL = 1 << 20;

/** Types that carry no data, whatever their size field says: Go reads none (`isHeaderOnlyType`). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

/**
 * Reads a tar archive's entries exactly as Go's `archive/tar` reader does, which is what the engine unpacks a
 * classic build's context with. That is where it differs from general-purpose readers such as tar-stream: the archive
 * ends at the first two zero blocks (or one, then the end of input); a zero block followed by anything else, a bad
 * checksum or an unreadable size is an error; links, directories, devices and FIFOs carry no data whatever their
 * size; a PAX global header is an entry of its own and applies to nothing; a GNU long name wins over a PAX path; an
 * old-style regular file whose name ends in `/` is a directory. Sparse files are refused, not read: the engine
 * writes them, but no build client sends them.
 *
 * @param source - the archive's bytes, already decompressed
 * @param wantData - whether to hold an entry's data; the data of the others is skipped
 * @param limit - the most bytes to read before refusing, against decompression bombs
 * @param end - set, once the archive is read, to where it ends: the offset of its end blocks, or of the end of its
 *   input
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_AMBIGUOUS_BODY` where Go's reader fails, or for what this
 *   does not read
 * @example
 * ```ts
 * for await (const entry of readTar(chunks, (e) => e.name === 'Dockerfile', 1 << 30)) console.log(entry.name);
 * ```
 */
export async function* readTar(
  source: AsyncIterable<Buffer>,
  wantData: (entry: TarEntry) => boolean,
  limit: number,
  end: { offset: number } = { offset: 0 },
): AsyncGenerator<TarEntry> {
  const input = new ByteQueue(source, limit);
  let pax: Map<string, string> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    end.offset = input.consumed;
    const block = await input.read(512);
    // a PAX or long-name header with no entry after it would apply to whatever is appended to the archive
    const pending = pax !== undefined || longName !== undefined || longLink !== undefined;
    if (block.length === 0) {
      if (pending) throw bad('a PAX or long-name header has no entry after it');
      return;
    }
    if (block.length < 512) throw bad('it ends inside a header');
    if (isZero(block)) {
      if (pending) throw bad('a PAX or long-name header has no entry after it');
      const second = await input.read(512);
      if (second.length === 0 || (second.length === 512 && isZero(second))) return;
      if (second.length < 512) throw bad('it ends inside a header');
      throw bad('a zero block is followed by more entries');
    }
    const header = parseHeader(block);
    const type = header.type;
    const rawSize = HEADER_ONLY.has(type) ? 0 : header.size;
    if (rawSize < 0) throw bad('an entry has a negative size');
    if (type === 'x' || type === 'g') {
      const records = parsePax(await special(input, rawSize));
      if (type === 'g') {
        pax = undefined;
        longName = undefined;
        longLink = undefined;
        yield { name: header.name, type: 'global', linkname: '', size: 0 };
      } else pax = records;
      continue;
    }
    if (type === 'L' || type === 'K') {
      const text = cString(await special(input, rawSize));
      if (type === 'L') longName = text;
      else longLink = text;
      continue;
    }
    let { name, linkname, size } = header;
    for (const [key, value] of pax ?? []) {
      if (value === '') continue;
      if (key.startsWith('GNU.sparse.')) throw bad('it holds a sparse file');
      if (key === 'path') name = value;
      else if (key === 'linkpath') linkname = value;
      else if (key === 'size') size = goInt(value);
    }
    if (longName !== undefined && longName !== '') name = longName;
    if (longLink !== undefined && longLink !== '') linkname = longLink;
    pax = undefined;
    longName = undefined;
    longLink = undefined;
    let flag = type;
    if (flag === '\0') flag = name.endsWith('/') ? '5' : '0';
    const kind = KINDS[flag];
    if (kind === undefined)
      throw bad(
        flag === 'S' ? 'it holds a sparse file' : `it holds an entry of type ${JSON.stringify(flag)}`,
      );
    const dataSize = HEADER_ONLY.has(flag) ? 0 : size;
    if (dataSize < 0) throw bad('an entry has a negative size');
    const entry: TarEntry = { name, type: kind, linkname, size: dataSize };
    if (kind === 'file' && wantData(entry)) {
      const data = await input.read(dataSize);
      if (data.length < dataSize) throw bad('it ends inside an entry');
      entry.data = data;
    } else if ((await input.skip(dataSize)) < dataSize) throw bad('it ends inside an entry');
    yield entry;
    // the padding may be cut short at the very end: Go reads that as the end of the archive
    const pad = -dataSize & 511;
    if ((await input.skip(pad)) < pad) {
      end.offset = input.consumed;
      return;
    }
  }
}

const KINDS: Record<string, TarEntry['type'] | undefined> = {
  '0': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'special',
  '4': 'special',
  '5': 'dir',
  '6': 'special',
};

/** A header block's fields that decide what the engine writes, read as Go's `readHeader` reads them. */
function parseHeader(block: Buffer): { type: string; name: string; linkname: string; size: number } {
  const format = formatOf(block);
  if (format === undefined) throw bad('a header has a bad checksum');
  let name = cString(block.subarray(0, 100));
  const linkname = cString(block.subarray(157, 257));
  const size = numeric(block.subarray(124, 136));
  const type = String.fromCharCode(block[156]!);
  let prefix = '';
  if (format === 'ustar') prefix = cString(block.subarray(345, 500));
  else if (format === 'star') prefix = cString(block.subarray(345, 476));
  else if (format === 'gnu') {
    // Go reads a GNU header's access and change times; where they do not parse, it takes the field as a prefix,
    // for archives an old Go writer made
    const times = [block.subarray(345, 357), block.subarray(357, 369)];
    const garbled = times.some((t) => t[0] !== 0 && !parses(t));
    const old = cString(block.subarray(345, 500));
    if (garbled && /^[\x00-\x7f]*$/.test(old)) prefix = old;
  }
  if (prefix !== '') name = `${prefix}/${name}`;
  return { type, name, linkname, size };
}

/** The header's format as Go's `getFormat` tells it, or `undefined` when its checksum is wrong. */
function formatOf(block: Buffer): 'v7' | 'ustar' | 'star' | 'gnu' | undefined {
  let stored: bigint;
  try {
    stored = octal(block.subarray(148, 156));
  } catch {
    return undefined;
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += c;
    signed += c < 128 ? c : c - 256;
  }
  if (stored !== BigInt(unsigned) && stored !== BigInt(signed)) return undefined;
  const magic = block.toString('latin1', 257, 263);
  const version = block.toString('latin1', 263, 265);
  const trailer = block.toString('latin1', 508, 512);
  if (magic === 'ustar\0' && trailer === 'tar\0') return 'star';
  if (magic === 'ustar\0') return 'ustar';
  if (magic === 'ustar ' && version === ' \0') return 'gnu';
  return 'v7';
}

/** A numeric field: base-256 when its first bit is set, else octal (Go's `parseNumeric`). */
function numeric(field: Buffer): number {
  let value: bigint;
  try {
    value = goNumeric(field);
  } catch {
    throw bad('a header has a size that is not a number');
  }
  return toNumber(value);
}

/** Go's `parseNumeric`, to its full range; throws where Go fails. */
function goNumeric(field: Buffer): bigint {
  if (field.length > 0 && (field[0]! & 0x80) !== 0) {
    const negative = (field[0]! & 0x40) !== 0;
    let value = 0n;
    for (let i = 0; i < field.length; i++) {
      let c = field[i]!;
      if (negative) c ^= 0xff;
      if (i === 0) c &= 0x7f;
      if (value >> 56n > 0n) throw new Error('overflow');
      value = (value << 8n) | BigInt(c);
    }
    if (value >> 63n > 0n) throw new Error('overflow');
    return negative ? -value - 1n : value;
  }
  return octal(field);
}

/** Whether Go's `parseNumeric` reads a field without error. */
function parses(field: Buffer): boolean {
  try {
    goNumeric(field);
    return true;
  } catch {
    return false;
  }
}

/**
 * An octal field: spaces and NULs trimmed at both ends, read up to the first NUL, as Go's `parseOctal` does with
 * `strconv.ParseUint(s, 8, 64)`, which takes no sign.
 */
function octal(field: Buffer): bigint {
  let start = 0;
  let end = field.length;
  while (start < end && (field[start] === 0x20 || field[start] === 0)) start++;
  while (end > start && (field[end - 1] === 0x20 || field[end - 1] === 0)) end--;
  if (start === end) return 0n;
  const text = cString(field.subarray(start, end));
  if (!/^[0-7]+$/.test(text)) throw new Error('not octal');
  const value = BigInt(`0o${text}`);
  if (value >= 1n << 64n) throw new Error('overflow');
  return value;
}

/** A decimal PAX value as Go's `strconv.ParseInt(v, 10, 64)` reads it. */
function goInt(text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) throw bad(`a PAX header has the size ${JSON.stringify(text)}`);
  const value = BigInt(text);
  if (value >= 1n << 63n || value < -(1n << 63n)) throw bad('a PAX header has a size that overflows');
  return toNumber(value);
}

/** A size as a number; one too large to hold is refused, as a context that large is refused anyway. */
function toNumber(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER))
    throw bad('an entry is too large');
  return Number(value);
}

/** PAX records (`"<length> <key>=<value>\n"`), read as Go's `parsePAX`: the last of a key wins. */
function parsePax(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let text = body.toString('latin1');
  while (text.length > 0) {
    const space = text.indexOf(' ');
    const length =
      space > 0 && /^[+-]?[0-9]+$/.test(text.slice(0, space)) ? Number(text.slice(0, space)) : Number.NaN;
    if (!(length >= 5) || length > text.length || text[length - 1] !== '\n')
      throw bad('a PAX header is malformed');
    const record = text.slice(space + 1, length - 1);
    text = text.slice(length);
    const eq = record.indexOf('=');
    if (eq === -1) throw bad('a PAX header is malformed');
    const key = record.slice(0, eq);
    const value = record.slice(eq + 1);
    if ((key === 'path' || key === 'linkpath') && value.includes('\0')) throw bad('a PAX path holds a NUL');
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') throw bad('it holds a sparse file');
    records.set(key, value);
  }
  return records;
}

/** The data of a PAX or GNU long-name header, with its padding. */
async function special(input: ByteQueue, size: number): Promise<Buffer> {
  if (size > MAX_SPECIAL) throw bad('a PAX or long-name header is too large');
  const data = await input.read(size);
  if (data.length < size) throw bad('it ends inside an entry');
  const pad = -size & 511;
  if ((await input.skip(pad)) < pad) throw bad('it ends inside an entry');
  return data;
}

/** A NUL-terminated string, latin1 (Go's `parseString`). */
function cString(bytes: Buffer): string {
  const nul = bytes.indexOf(0);
  return bytes.toString('latin1', 0, nul === -1 ? bytes.length : nul);
}

function isZero(block: Buffer): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function bad(why: string) {
  return refuse(
    'DOCKHAND_AMBIGUOUS_BODY',
    `the build context is not a tar the engine reads as this proxy does: ${why}`,
  );
}

/** Bytes from an async source, read or skipped a count at a time, with a bound on the total. */
class ByteQueue {
  #chunks: Buffer[] = [];
  #length = 0;
  #total = 0;
  /** How many bytes were read or skipped. */
  consumed = 0;
  #done = false;
  readonly #source: AsyncIterator<Buffer>;
  readonly #limit: number;

  constructor(source: AsyncIterable<Buffer>, limit: number) {
    this.#source = source[Symbol.asyncIterator]();
    this.#limit = limit;
  }

  /** Up to `n` bytes; fewer only at the end of the input. */
  async read(n: number): Promise<Buffer> {
    while (this.#length < n && (await this.#pull()));
    const take = Math.min(n, this.#length);
    const out = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    const head = out.subarray(0, take);
    const rest = out.subarray(take);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#length = rest.length;
    this.consumed += head.length;
    return head;
  }

  /** Drops up to `n` bytes without holding them; returns how many were dropped. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (this.#length === 0 && !(await this.#pull())) break;
      const first = this.#chunks[0]!;
      if (first.length <= left) {
        this.#chunks.shift();
        this.#length -= first.length;
        left -= first.length;
      } else {
        this.#chunks[0] = first.subarray(left);
        this.#length -= left;
        left = 0;
      }
    }
    this.consumed += n - left;
    return n - left;
  }

  async #pull(): Promise<boolean> {
    if (this.#done) return false;
    const next = await this.#source.next();
    if (next.done) {
      this.#done = true;
      return false;
    }
    this.#total += next.value.length;
    if (this.#total > this.#limit)
      throw refuse(
        'DOCKHAND_AMBIGUOUS_BODY',
        `the build context unpacks to more than ${this.#limit} bytes, more than can be checked here; use BuildKit (docker buildx, the default docker build)`,
      );
    if (next.value.length > 0) {
      this.#chunks.push(next.value);
      this.#length += next.value.length;
    }
    return true;
  }
}
