import { Readable } from 'node:stream';
import { parseJson, readBounded } from './body.ts';
import type { HeaderList } from './headers.ts';

/**
 * The client's request as middleware sees it. The body is lazy and bounded: nothing is read unless a middleware
 * asks; a body no middleware asks for streams through to the engine with backpressure.
 *
 * @example
 * ```ts
 * on('ContainerCreate', async (ctx, next) => {
 *   const body = (await ctx.request.json()) as { Labels?: Record<string, string> };
 *   ctx.request.setJson({ ...body, Labels: { ...body.Labels, tenant: 'alice' } });
 *   await next();
 * });
 * ```
 */
export class ProxyRequest {
  /** The HTTP method. */
  readonly method: string;
  /** The request header fields (hop-by-hop fields are dropped when forwarding). */
  readonly headers: HeaderList;
  #rawQuery: string;
  #query: URLSearchParams | undefined;
  #stream: Readable | undefined;
  #buffered: Buffer | undefined;
  #reading: Promise<Buffer> | undefined;
  #json: Promise<unknown> | undefined;
  #changed = false;
  #limit: number;

  /**
   * @param method - the HTTP method
   * @param rawQuery - the query string without `?`
   * @param headers - the header fields
   * @param body - the body as a stream, or already read, or `undefined` when there is none
   * @param limit - the largest body a middleware may read
   * @internal
   */
  constructor(
    method: string,
    rawQuery: string,
    headers: HeaderList,
    body: Readable | Buffer | undefined,
    limit: number,
  ) {
    this.method = method;
    this.#rawQuery = rawQuery;
    this.headers = headers;
    if (Buffer.isBuffer(body)) this.#buffered = body;
    else this.#stream = body;
    this.#limit = limit;
  }

  /** The query string, parsed. Changes are forwarded. */
  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.#rawQuery);
    return this.#query;
  }

  /** The query string to forward, without `?`. @internal */
  get search(): string {
    return this.#query ? this.#query.toString() : this.#rawQuery;
  }

  /** Whether the request carries a body. */
  get hasBody(): boolean {
    return this.#stream !== undefined || (this.#buffered !== undefined && this.#buffered.length > 0);
  }

  /** Whether a middleware replaced the body, so that it must be re-framed. */
  get changed(): boolean {
    return this.#changed;
  }

  /**
   * Reads the whole body (bounded).
   *
   * @returns the bytes; empty when there is no body
   * @throws {@link DockhandError} `DOCKHAND_BODY_TOO_LARGE`
   */
  buffer(): Promise<Buffer> {
    if (this.#buffered) return Promise.resolve(this.#buffered);
    if (!this.#stream) return Promise.resolve(Buffer.alloc(0));
    this.#reading ??= readBounded(this.#stream, this.#limit).then((buf) => {
      this.#buffered = buf;
      this.#stream = undefined;
      return buf;
    });
    return this.#reading;
  }

  /**
   * Reads and parses the body as JSON, whatever its Content-Type or framing (chunked or Content-Length).
   *
   * @returns the value; `undefined` for an empty body
   * @throws {@link DockhandError} `DOCKHAND_BAD_JSON` (400) when it is not JSON
   */
  json<T = unknown>(): Promise<T> {
    this.#json ??= this.buffer().then((buf) => parseJson(buf, 'request'));
    return this.#json as Promise<T>;
  }

  /**
   * Replaces the body with a JSON value; it is re-serialised and `Content-Length` fixed when forwarded.
   *
   * @param value - the new body
   */
  setJson(value: unknown): void {
    this.setBody(Buffer.from(JSON.stringify(value)));
    this.headers.set('Content-Type', 'application/json');
  }

  /**
   * Replaces the body.
   *
   * @param body - the new bytes
   */
  setBody(body: Buffer): void {
    this.#stream?.resume();
    this.#stream = undefined;
    this.#buffered = body;
    this.#json = undefined;
    this.#changed = true;
  }

  /**
   * Takes the body as a stream to read part of it (e.g. to peek into a build context), leaving nothing in its
   * place until {@link ProxyRequest.restoreStream} hands back a stream with the same bytes. A body the proxy
   * already holds whole (a small one, or one a middleware read) comes as a stream of those bytes, so a
   * middleware sees every body the same way, however it arrived.
   *
   * @returns the body as a stream, or `undefined` when there is none or it was already taken
   */
  takeStream(): Readable | undefined {
    const s = this.#stream;
    if (s !== undefined) {
      this.#stream = undefined;
      return s;
    }
    const buffered = this.#buffered;
    if (buffered === undefined || buffered.length === 0) return undefined;
    if (this.#changed) {
      // a replaced body becomes the body as sent: its stream is framed by its own length
      this.headers.set('Content-Length', String(buffered.length));
      this.#changed = false;
    }
    this.#buffered = undefined;
    this.#reading = undefined;
    this.#json = undefined;
    return Readable.from([buffered], { objectMode: false });
  }

  /**
   * Puts back a body stream taken with {@link ProxyRequest.takeStream}, carrying exactly the original bytes
   * (the framing headers are kept).
   *
   * @param stream - the replayed body
   */
  restoreStream(stream: Readable): void {
    this.#stream = stream;
  }

  /**
   * The body to forward: a buffer when it was read or replaced, the stream otherwise.
   * @internal
   */
  forwardBody(): { buffer?: Buffer; stream?: Readable } {
    if (this.#buffered !== undefined) return { buffer: this.#buffered };
    if (this.#stream) return { stream: this.#stream };
    return {};
  }
}
