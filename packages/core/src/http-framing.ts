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
}

const REQUEST_LINE = /^([A-Z]{1,20}) (\/[!-~]*) HTTP\/1\.1$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;
const DIGITS = /^[0-9]{1,15}$/;

/**
 * Reads a request head (the bytes before the empty line) when it is plain; anything that is not is
 * `undefined`, for `node:http` to parse.
 *
 * @param head - the head decoded as latin1, without the final `\r\n\r\n`
 * @returns the method, target and body length, or `undefined`
 * @example
 * ```ts
 * parsePlainRequestHead('GET /_ping HTTP/1.1\r\nHost: docker'); // { method: 'GET', target: '/_ping', bodyLength: 0, contentType: undefined }
 * parsePlainRequestHead('POST /build HTTP/1.1\r\nTransfer-Encoding: chunked'); // undefined
 * ```
 */
export function parsePlainRequestHead(head: string): PlainRequestHead | undefined {
  const lines = head.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) return undefined;
  let bodyLength = 0;
  let sawLength = false;
  let contentType: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1);
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return undefined;
    switch (name.toLowerCase()) {
      case 'content-length': {
        const v = value.trim();
        if (sawLength || !DIGITS.test(v)) return undefined;
        sawLength = true;
        bodyLength = Number(v);
        break;
      }
      case 'content-type':
        if (contentType !== undefined) return undefined;
        contentType = value.trim();
        break;
      case 'transfer-encoding':
      case 'upgrade':
      case 'expect':
        return undefined;
      case 'connection':
        if (/upgrade/i.test(value)) return undefined;
        break;
    }
  }
  return { method: m[1]!, target: m[2]!, bodyLength, contentType };
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

const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: |$)/;

/**
 * Reads the framing of a response head of the engine.
 *
 * @param head - the head decoded as latin1, without the final `\r\n\r\n`
 * @param method - the method of the request it answers
 * @returns the status and framing
 * @throws Error when the head is not an HTTP/1.x response
 * @example
 * ```ts
 * parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 2', 'GET').framing; // { kind: 'length', length: 2 }
 * ```
 */
export function parseResponseHead(head: string, method: string): ResponseHead {
  const lineEnd = head.indexOf('\r\n');
  const m = STATUS_LINE.exec(lineEnd === -1 ? head : head.slice(0, lineEnd));
  if (!m) throw new Error(`the engine sent a malformed status line: ${JSON.stringify(head.slice(0, 80))}`);
  const status = Number(m[2]);
  let close = m[1] === '0';
  let length: number | undefined;
  let chunked = false;
  let encoded = false;
  // only three fields matter here; the engine's head is trusted to be well formed, so skip the others cheaply
  let pos = lineEnd;
  while (pos !== -1) {
    const start = pos + 2;
    const next = head.indexOf('\r\n', start);
    const stop = next === -1 ? head.length : next;
    pos = next;
    const first = head.charCodeAt(start) | 0x20;
    if (first !== 0x63 && first !== 0x74) continue; // c, t
    const colon = head.indexOf(':', start);
    if (colon === -1 || colon > stop) throw new Error('the engine sent a malformed header line');
    const name = head.slice(start, colon).toLowerCase();
    if (name === 'content-length') {
      const value = head.slice(colon + 1, stop).trim();
      if (!DIGITS.test(value) || (length !== undefined && length !== Number(value)))
        throw new Error('the engine sent an invalid Content-Length');
      length = Number(value);
    } else if (name === 'transfer-encoding') {
      encoded = true;
      chunked = /(?:^|,)\s*chunked\s*$/i.test(head.slice(colon + 1, stop));
    } else if (name === 'connection') {
      const value = head.slice(colon + 1, stop);
      if (/(?:^|,)\s*close\s*(?:,|$)/i.test(value)) close = true;
      else if (/(?:^|,)\s*keep-alive\s*(?:,|$)/i.test(value)) close = false;
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
   * @returns the index just past the end of the body, or -1 when the body goes on past `buf`
   * @throws Error on bytes that are not chunked framing
   */
  scan(buf: Buffer, from: number): number {
    let i = from;
    while (i < buf.length) {
      switch (this.#state) {
        case Chunk.Data: {
          const n = Math.min(this.#remaining, buf.length - i);
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
