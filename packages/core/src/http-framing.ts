/**
 * HTTP/1.1 message framing for the proxy's byte lane ({@link RawLane}): where a request head ends, whether a
 * request is plain enough to be passed through as bytes, and where a response of the engine ends. Nothing here
 * rewrites bytes; it only reads the framing, the way the engine's Go HTTP server and client read it.
 *
 * The request side is deliberately narrow: a request is "plain" only when every byte of its head is in the
 * strict RFC 9112 grammar and its body (if any) has a single decimal `Content-Length`. Anything else
 * (`Transfer-Encoding`, `Upgrade`, `Expect`, obsolete line folding, bare LF, HTTP/1.0, non-ASCII, duplicate
 * lengths, ...) is left to `node:http`'s llhttp parser, so two parsers never disagree about where a request ends.
 *
 * @module
 */

/** The most bytes a request head may take before the lane hands the connection to `node:http`. */
export const MAX_HEAD: number = 16 * 1024;

/** A request head that the byte lane may forward unchanged. */
export interface PlainRequestHead {
  /** The method, e.g. `GET`. */
  readonly method: string;
  /** The request target in origin form (`/v1.45/containers/json?all=1`). */
  readonly target: string;
  /** The body length from `Content-Length` (0 when there is none). */
  readonly bodyLength: number;
  /** The `Content-Type` value, trimmed (a head with two is not plain). */
  readonly contentType: string | undefined;
  /** The client asked to close the connection after this request (`Connection: close`). */
  readonly close: boolean;
}

const SP = 0x20;
const HT = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
/** `tchar` of RFC 9110: the bytes a field name is made of. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TCHAR[c.charCodeAt(0)] = 1;
const HTTP11 = Buffer.from(' HTTP/1.1');
const CONTENT_LENGTH = Buffer.from('content-length');
const CONTENT_TYPE = Buffer.from('content-type');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding');
const UPGRADE = Buffer.from('upgrade');
const EXPECT = Buffer.from('expect');
const CONNECTION = Buffer.from('connection');
const CHUNKED = Buffer.from('chunked');
const CLOSE = Buffer.from('close');
const KEEP_ALIVE = Buffer.from('keep-alive');
const HTTP1 = Buffer.from('HTTP/1.');

/** Whether `buf[at..]` spells `lower` in any case (`lower` is letters, digits and `-`). */
function spells(buf: Uint8Array, at: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) if ((buf[at + i]! | 0x20) !== lower[i]) return false;
  return true;
}

/** Whether the field name `buf[from..to)` is `lower`, in any case. */
function isName(buf: Uint8Array, from: number, to: number, lower: Uint8Array): boolean {
  return to - from === lower.length && spells(buf, from, lower);
}

/** Where a field value starts once its leading spaces and tabs are skipped. */
function skipOws(buf: Uint8Array, from: number, to: number): number {
  while (from < to && (buf[from] === SP || buf[from] === HT)) from++;
  return from;
}

/** Where a field value ends once its trailing spaces and tabs are dropped. */
function dropOws(buf: Uint8Array, from: number, to: number): number {
  while (to > from && (buf[to - 1] === SP || buf[to - 1] === HT)) to--;
  return to;
}

/** A decimal of 1 to 15 digits, alone between optional spaces and tabs, or -1. */
function decimal(buf: Uint8Array, from: number, to: number): number {
  from = skipOws(buf, from, to);
  to = dropOws(buf, from, to);
  if (to === from || to - from > 15) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Whether `buf[from..to)` holds `lower` in any case anywhere (the `upgrade` in a `Connection` value). */
function contains(buf: Uint8Array, from: number, to: number, lower: Uint8Array): boolean {
  for (let i = from; i + lower.length <= to; i++) if (spells(buf, i, lower)) return true;
  return false;
}

/**
 * Whether a comma-separated field value (`buf[from..to)`) has `lower` as one of its elements, in any case and
 * with optional spaces and tabs around it (`keep-alive, Close`).
 */
function hasElement(buf: Uint8Array, from: number, to: number, lower: Uint8Array): boolean {
  let i = from;
  while (i <= to) {
    let comma = i;
    while (comma < to && buf[comma] !== 0x2c) comma++;
    const a = skipOws(buf, i, comma);
    if (isName(buf, a, dropOws(buf, a, comma), lower)) return true;
    i = comma + 1;
  }
  return false;
}

/**
 * Reads a request head when it is plain; anything that is not is `undefined`, for `node:http` to parse. It reads
 * the bytes themselves (no string per line, no regular expression): this runs once for every request on the lane.
 *
 * @param buf - bytes that start with the head
 * @param end - where the head ends, before its final `\r\n\r\n` (default: the whole of `buf`)
 * @returns the method, target and body length, or `undefined`
 * @example
 * ```ts
 * parsePlainRequestHead(Buffer.from('GET /_ping HTTP/1.1\r\nHost: docker')); // { method: 'GET', target: '/_ping', bodyLength: 0, contentType: undefined, close: false }
 * parsePlainRequestHead(Buffer.from('POST /build HTTP/1.1\r\nTransfer-Encoding: chunked')); // undefined
 * ```
 */
export function parsePlainRequestHead(buf: Buffer, end: number = buf.length): PlainRequestHead | undefined {
  // the request line: METHOD SP origin-form SP HTTP/1.1
  let i = 0;
  while (i < end && buf[i]! >= 0x41 && buf[i]! <= 0x5a) i++;
  if (i === 0 || i > 20 || buf[i] !== SP) return undefined;
  const methodEnd = i++;
  const targetStart = i;
  if (buf[i] !== 0x2f) return undefined;
  while (i < end && buf[i]! > SP && buf[i]! < 0x7f) i++;
  const targetEnd = i;
  if (end - i < HTTP11.length) return undefined;
  for (let k = 0; k < HTTP11.length; k++) if (buf[i + k] !== HTTP11[k]) return undefined;
  i += HTTP11.length;
  let bodyLength = 0;
  let sawLength = false;
  let contentType: string | undefined;
  let close = false;
  // each field line: CRLF name ":" value, the value in HTAB / SP / VCHAR only (no obs-text, no bare CR or LF)
  while (i < end) {
    if (buf[i] !== CR || buf[i + 1] !== LF) return undefined;
    i += 2;
    const nameStart = i;
    while (i < end && buf[i]! < 0x80 && TCHAR[buf[i]!] === 1) i++;
    if (i === nameStart || buf[i] !== COLON) return undefined;
    const nameEnd = i++;
    const valueStart = i;
    while (i < end && (buf[i] === HT || (buf[i]! >= SP && buf[i]! < 0x7f))) i++;
    const valueEnd = i;
    if (i < end && buf[i] !== CR) return undefined;
    switch (nameEnd - nameStart) {
      case CONTENT_LENGTH.length:
        if (isName(buf, nameStart, nameEnd, CONTENT_LENGTH)) {
          if (sawLength) return undefined;
          bodyLength = decimal(buf, valueStart, valueEnd);
          if (bodyLength < 0) return undefined;
          sawLength = true;
        }
        break;
      case CONTENT_TYPE.length:
        if (isName(buf, nameStart, nameEnd, CONTENT_TYPE)) {
          if (contentType !== undefined) return undefined;
          const a = skipOws(buf, valueStart, valueEnd);
          contentType = buf.toString('latin1', a, dropOws(buf, a, valueEnd));
        }
        break;
      case TRANSFER_ENCODING.length:
        if (isName(buf, nameStart, nameEnd, TRANSFER_ENCODING)) return undefined;
        break;
      case UPGRADE.length:
        if (isName(buf, nameStart, nameEnd, UPGRADE)) return undefined;
        break;
      case EXPECT.length:
        if (isName(buf, nameStart, nameEnd, EXPECT)) return undefined;
        break;
      case CONNECTION.length:
        if (isName(buf, nameStart, nameEnd, CONNECTION)) {
          if (contains(buf, valueStart, valueEnd, UPGRADE)) return undefined;
          if (hasElement(buf, valueStart, valueEnd, CLOSE)) close = true;
        }
        break;
    }
  }
  return {
    method: buf.toString('latin1', 0, methodEnd),
    target: buf.toString('latin1', targetStart, targetEnd),
    bodyLength,
    contentType,
    close,
  };
}

/**
 * The header fields of a head that {@link parsePlainRequestHead} accepted (or of a response head of the engine),
 * as flat `[name, value, ...]` strings with the sender's casing, each value without its surrounding spaces and
 * tabs. A line without a colon is skipped.
 *
 * @param buf - bytes that start with the head
 * @param end - where the head ends, before its final `\r\n\r\n`
 * @returns the fields in order, duplicates kept
 * @example
 * ```ts
 * headerFields(Buffer.from('GET / HTTP/1.1\r\nHost: docker\r\nX-A:  1 ')); // ['Host', 'docker', 'X-A', '1']
 * ```
 */
export function headerFields(buf: Buffer, end: number = buf.length): string[] {
  const out: string[] = [];
  let i = buf.indexOf(CR);
  while (i !== -1 && i < end) {
    const start = i + 2;
    let stop = buf.indexOf(CR, start);
    if (stop === -1 || stop > end) stop = end;
    const colon = buf.indexOf(COLON, start);
    if (colon !== -1 && colon < stop) {
      const from = skipOws(buf, colon + 1, stop);
      out.push(buf.toString('latin1', start, colon), buf.toString('latin1', from, dropOws(buf, from, stop)));
    }
    i = stop === end ? -1 : stop;
  }
  return out;
}

/** How the body of a response is delimited. */
export type ResponseFraming =
  /** No body: a `HEAD` request, 1xx, 204 or 304. */
  | { readonly kind: 'none' }
  /** `Content-Length` bytes. */
  | { readonly kind: 'length'; readonly length: number }
  /** `Transfer-Encoding: chunked`. */
  | { readonly kind: 'chunked' }
  /** Until the engine closes the connection (the old raw attach stream is one). */
  | { readonly kind: 'close' };

/** A response head of the engine, read for its framing only. */
export interface ResponseHead {
  /** The status code. */
  readonly status: number;
  /** Where the body ends. */
  readonly framing: ResponseFraming;
  /** The engine closes the connection after this response. */
  readonly close: boolean;
}

/**
 * Reads the framing of a response head of the engine, from its bytes.
 *
 * @param buf - bytes that start with the head
 * @param end - where the head ends, before its final `\r\n\r\n`
 * @param method - the method of the request it answers
 * @returns the status and framing
 * @throws Error when the head is not an HTTP/1.x response
 * @example
 * ```ts
 * const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2');
 * parseResponseHead(head, head.length, 'GET').framing; // { kind: 'length', length: 2 }
 * ```
 */
export function parseResponseHead(buf: Buffer, end: number, method: string): ResponseHead {
  // HTTP/1.x SP 3DIGIT (SP reason | end of line)
  let ok = end >= 12;
  for (let k = 0; ok && k < HTTP1.length; k++) ok = buf[k] === HTTP1[k];
  const minor = buf[7]! - 0x30;
  const d0 = buf[9]! - 0x30;
  const d1 = buf[10]! - 0x30;
  const d2 = buf[11]! - 0x30;
  ok &&= (minor === 0 || minor === 1) && buf[8] === SP;
  ok &&= d0 >= 0 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9;
  ok &&= end === 12 || buf[12] === SP || buf[12] === CR;
  if (!ok) {
    const text = buf.toString('latin1', 0, Math.min(end, 80));
    throw new Error(`the engine sent a malformed status line: ${JSON.stringify(text)}`);
  }
  const status = d0 * 100 + d1 * 10 + d2;
  let close = minor === 0;
  let length: number | undefined;
  let chunked = false;
  let encoded = false;
  // only three fields matter here; the engine's head is trusted to be well formed, so skip the others cheaply
  let i = 12;
  while (i < end) {
    while (i < end && buf[i] !== CR) i++;
    const start = i + 2;
    if (start >= end) break;
    let stop = start;
    while (stop < end && buf[stop] !== CR) stop++;
    i = stop;
    const first = buf[start]! | 0x20;
    if (first !== 0x63 && first !== 0x74) continue; // c, t
    let colon = start;
    while (colon < stop && buf[colon] !== COLON) colon++;
    if (colon === stop) throw new Error('the engine sent a malformed header line');
    if (isName(buf, start, colon, CONTENT_LENGTH)) {
      const value = decimal(buf, colon + 1, stop);
      if (value < 0 || (length !== undefined && length !== value))
        throw new Error('the engine sent an invalid Content-Length');
      length = value;
    } else if (isName(buf, start, colon, TRANSFER_ENCODING)) {
      // chunked when it is the last coding
      encoded = true;
      const to = dropOws(buf, colon + 1, stop);
      const from = to - CHUNKED.length;
      chunked = from > colon && spells(buf, from, CHUNKED);
      if (chunked) {
        const before = dropOws(buf, colon + 1, from);
        chunked = before === colon + 1 || buf[before - 1] === 0x2c;
      }
    } else if (isName(buf, start, colon, CONNECTION)) {
      if (hasElement(buf, colon + 1, stop, CLOSE)) close = true;
      else if (hasElement(buf, colon + 1, stop, KEEP_ALIVE)) close = false;
    }
  }
  let framing: ResponseFraming;
  if (method === 'HEAD' || status < 200 || status === 204 || status === 304) framing = { kind: 'none' };
  else if (encoded) framing = chunked ? { kind: 'chunked' } : { kind: 'close' };
  else if (length !== undefined) framing = { kind: 'length', length };
  else framing = { kind: 'close' };
  return { status, framing, close: close || framing.kind === 'close' };
}

// the states of ChunkedBody (plain numbers: Node's type stripping has no enums)
const Chunk = {
  Size: 0,
  Extension: 1,
  SizeLf: 2,
  Data: 3,
  DataCr: 4,
  DataLf: 5,
  Trailer: 6,
  TrailerLf: 7,
} as const;

/**
 * Follows a `chunked` body byte by byte, without copying it, to find where it ends.
 *
 * @example
 * ```ts
 * const body = new ChunkedBody();
 * body.scan(Buffer.from('2\r\nhi\r\n0\r\n\r\n'), 0); // 12: the body ends after 12 bytes
 * ```
 */
export class ChunkedBody {
  #state: number = Chunk.Size;
  #remaining = 0;
  #digits = 0;
  #lineLength = 0;

  /**
   * Reads on from `from`.
   *
   * @param buf - the next bytes of the body
   * @param from - where in `buf` the body continues
   * @param onData - called with each stretch of chunk data in `buf` (`start`, `end`), to decode the body
   * @returns the index just past the end of the body, or -1 when the body goes on past `buf`
   * @throws Error on bytes that are not chunked framing
   */
  scan(buf: Buffer, from: number, onData?: (start: number, end: number) => void): number {
    let i = from;
    while (i < buf.length) {
      switch (this.#state) {
        case Chunk.Data: {
          const n = Math.min(this.#remaining, buf.length - i);
          if (onData !== undefined && n > 0) onData(i, i + n);
          this.#remaining -= n;
          i += n;
          if (this.#remaining === 0) this.#state = Chunk.DataCr;
          continue;
        }
        case Chunk.Size: {
          const c = buf[i]!;
          const d = hexValue(c);
          if (d >= 0) {
            if (++this.#digits > 12) throw new Error('chunk size too large');
            this.#remaining = this.#remaining * 16 + d;
          } else if (this.#digits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) {
            this.#state = Chunk.Extension;
          } else if (this.#digits > 0 && c === 0x0d) {
            this.#state = Chunk.SizeLf;
          } else throw new Error('invalid chunk size');
          break;
        }
        case Chunk.Extension:
          if (buf[i] === 0x0d) this.#state = Chunk.SizeLf;
          else if (++this.#lineLength > 4096) throw new Error('chunk extension too long');
          break;
        case Chunk.SizeLf:
          if (buf[i] !== 0x0a) throw new Error('invalid chunk size line');
          this.#digits = 0;
          this.#lineLength = 0;
          this.#state = this.#remaining === 0 ? Chunk.Trailer : Chunk.Data;
          break;
        case Chunk.DataCr:
          if (buf[i] !== 0x0d) throw new Error('chunk data longer than its size');
          this.#state = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (buf[i] !== 0x0a) throw new Error('chunk data longer than its size');
          this.#state = Chunk.Size;
          break;
        case Chunk.Trailer:
          if (buf[i] === 0x0d) this.#state = Chunk.TrailerLf;
          else if (++this.#lineLength > 16 * 1024) throw new Error('chunked trailer too long');
          break;
        case Chunk.TrailerLf: {
          if (buf[i] !== 0x0a) throw new Error('invalid chunked trailer');
          const empty = this.#lineLength === 0;
          this.#lineLength = 0;
          this.#state = Chunk.Trailer;
          if (empty) return i + 1;
          break;
        }
      }
      i++;
    }
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}
