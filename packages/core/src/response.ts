import { parseJson } from './body.ts';
import { coreError } from './errors.ts';
import type { HeaderList } from './headers.ts';
import { jsonBody } from './json-body.ts';
import { dropBehindSink, type JsonLineFlush, type JsonLineTransform, jsonLinesSink } from './json-lines.ts';

/**
 * Where a response body goes: the client connection, a buffer, or a transform in front of either.
 * @internal
 */
export interface BodySink {
  /** Writes a chunk; `false` asks the source to pause until the sink drains. */
  write(chunk: Buffer): boolean;
  /** The body is complete. */
  end(): void;
  /** The body failed. */
  destroy(err: Error): void;
  /** Registers the function that resumes the source once the sink can take more. */
  onDrain(fn: () => void): void;
}

/** Pause/resume of the body's producer (undici's dispatch controller). @internal */
export interface FlowControl {
  pause(): void;
  resume(): void;
  /** Stops the producer for good: the client went away. */
  abort?(reason: Error): void;
}

const QUEUE_LIMIT = 256 * 1024;

/**
 * The engine's response as middleware sees it after `await next()`. The body is lazy: it streams straight to the
 * client unless a middleware asks for it with {@link ProxyResponse.json} or transforms it.
 *
 * @example
 * ```ts
 * on('ContainerList', async (ctx, next) => {
 *   await next();
 *   const list = (await ctx.response!.json()) as { Labels: Record<string, string> }[];
 *   ctx.response!.setJson(list.filter((c) => c.Labels.tenant === 'alice'));
 * });
 * ```
 */
export class ProxyResponse {
  /** The HTTP status. */
  status: number;
  /** The response header fields. */
  readonly headers: HeaderList;
  /** True when the engine switched protocols (101): the connection is now a raw stream both ways. */
  readonly hijacked: boolean;
  #chunks: Buffer[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #ends: (() => void)[] = [];
  #sink: BodySink | undefined;
  #flow: FlowControl | undefined;
  #replaced: Buffer | undefined;
  #transforms: { transform: JsonLineTransform; flush?: JsonLineFlush }[] = [];
  #maxBehind: number | undefined;
  #limit: number;
  #json: Promise<unknown> | undefined;

  /**
   * @param status - the HTTP status
   * @param headers - the header fields
   * @param options - flow control of the producer, the body-size limit, whether the connection was hijacked
   * @internal
   */
  constructor(
    status: number,
    headers: HeaderList,
    options: { flow?: FlowControl; limit: number; hijacked?: boolean; body?: Buffer },
  ) {
    this.status = status;
    this.headers = headers;
    this.hijacked = options.hijacked ?? false;
    this.#flow = options.flow;
    this.#limit = options.limit;
    if (options.body) {
      this.#chunks.push(options.body);
      this.#ended = true;
    }
  }

  /** @internal the producer delivers a chunk */
  push(chunk: Buffer): void {
    if (this.#sink) {
      if (!this.#sink.write(chunk)) this.#flow?.pause();
      return;
    }
    this.#chunks.push(chunk);
    this.#queued += chunk.length;
    if (this.#queued > QUEUE_LIMIT) this.#flow?.pause();
  }

  /** @internal the producer is done */
  end(): void {
    this.#ended = true;
    this.#sink?.end();
    this.#over();
  }

  /** @internal the producer failed */
  fail(err: Error): void {
    this.#error = err;
    this.#ended = true;
    this.#sink?.destroy(err);
    this.#over();
  }

  /**
   * Calls `fn` once the engine's answer has ended or failed (at once if it already has), whether or not the client
   * is still reading it: e.g. when a streamed build is over.
   *
   * @param fn - what to call
   */
  onEnd(fn: () => void): void {
    if (this.#ended) fn();
    else this.#ends.push(fn);
  }

  /**
   * The client went away before the body's end: its producer (the engine's answer, or a stream of the pipeline's
   * own) stops.
   * @internal
   */
  abandon(reason: Error): void {
    if (!this.#ended) this.#flow?.abort?.(reason);
  }

  #over(): void {
    const ends = this.#ends;
    this.#ends = [];
    for (const fn of ends) fn();
  }

  /** Whether a middleware replaced the body. */
  get replaced(): boolean {
    return this.#replaced !== undefined;
  }

  /** Whether the body will be re-framed on the way out (replaced or transformed). */
  get reframed(): boolean {
    return this.#replaced !== undefined || this.#transforms.length > 0;
  }

  /**
   * Reads the whole body (bounded) and parses it as JSON, whatever its Content-Type.
   *
   * @returns the parsed body; `undefined` when it is empty
   * @throws {@link DockhandError} `DOCKHAND_BAD_JSON` or `DOCKHAND_BODY_TOO_LARGE`
   */
  json<T = unknown>(): Promise<T> {
    this.#json ??= this.buffer().then((buf) => parseJson(buf, 'response'));
    return this.#json as Promise<T>;
  }

  /**
   * Reads the whole body (bounded).
   *
   * @returns the body bytes
   */
  buffer(): Promise<Buffer> {
    if (this.#replaced) return Promise.resolve(this.#replaced);
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      this.#attach({
        write: (chunk) => {
          size += chunk.length;
          if (size > this.#limit) {
            const err = coreError(
              'DOCKHAND_BODY_TOO_LARGE',
              `response body larger than ${this.#limit} bytes`,
            );
            reject(err);
            // nobody reads the rest: its producer stops (an endless stream was read into nothing for ever)
            this.abandon(err);
            return true;
          }
          chunks.push(chunk);
          return true;
        },
        end: () => {
          const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          this.#replaced = buf;
          resolve(buf);
        },
        destroy: reject,
        onDrain: () => {},
      });
    });
  }

  /**
   * Replaces the body with a JSON value. It is re-serialised as the engine writes JSON (one line and a newline) and
   * `Content-Length` fixed on the way out.
   *
   * @param value - the new body
   */
  setJson(value: unknown): void {
    this.setBody(jsonBody(value), 'application/json');
  }

  /**
   * Replaces the body.
   *
   * @param body - the new bytes
   * @param contentType - a new Content-Type, if it changes
   */
  setBody(body: Buffer, contentType?: string): void {
    if (this.hijacked) throw new TypeError('the body of a hijacked connection cannot be replaced');
    this.#replaced = body;
    this.#json = undefined;
    if (contentType) this.headers.set('Content-Type', contentType);
  }

  /**
   * Transforms a newline-delimited JSON stream (events, pull or build progress) one message at a time, as it
   * streams. Several transforms run in the order they were added.
   *
   * @param transform - returns the message to pass on, or `undefined` to drop it
   * @param flush - when the engine's stream has ended: messages to send after its last, before the body ends
   */
  transformJsonLines(transform: JsonLineTransform, flush?: JsonLineFlush): void {
    if (this.hijacked) throw new TypeError('a hijacked connection carries no JSON lines');
    this.#transforms.push({ transform, ...(flush ? { flush } : {}) });
  }

  /**
   * Keeps reading a newline-delimited JSON stream (events) at the engine's pace however slowly the client takes
   * it: once more than `maxBytes` wait for the client, the messages that follow are dropped until it catches up.
   * The engine drops events for a subscriber that falls behind too, but only after waiting 100 ms for each,
   * and every action on the engine waits with it: a client that never reads its stream slowed every user of the
   * engine (found in stop 26: a volume create and remove took 205 ms instead of 8).
   *
   * @param maxBytes - the most bytes kept for the client while it is behind
   * @example
   * ```ts
   * on('SystemEvents', async (ctx, next) => {
   *   await next();
   *   ctx.response!.dropWhenBehind(1024 * 1024);
   * });
   * ```
   */
  dropWhenBehind(maxBytes: number): void {
    if (this.hijacked) throw new TypeError('a hijacked connection carries no JSON lines');
    this.#maxBehind = maxBytes;
  }

  /**
   * Sends the body into a sink, through any transforms.
   * @internal
   */
  pipeTo(sink: BodySink): void {
    if (this.#replaced) {
      sink.write(this.#replaced);
      sink.end();
      return;
    }
    let target = sink;
    if (this.#maxBehind !== undefined) {
      target = dropBehindSink(sink, this.#maxBehind);
      // whole messages are written, and dropped: a transform writes one at a time, as does one that passes each
      if (this.#transforms.length === 0) target = jsonLinesSink(target, (m) => m);
    }
    for (let i = this.#transforms.length - 1; i >= 0; i--)
      target = jsonLinesSink(target, this.#transforms[i]!.transform, this.#transforms[i]!.flush);
    this.#attach(target);
  }

  /**
   * The whole body when it has already arrived and nothing changes it, so it can be sent in one write.
   * @internal
   */
  completeBody(): Buffer | undefined {
    if (this.#replaced) return this.#replaced;
    if (!this.#ended || this.#error || this.#transforms.length > 0) return undefined;
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#sink = { write: () => true, end: () => {}, destroy: () => {}, onDrain: () => {} };
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  }

  #attach(sink: BodySink): void {
    if (this.#sink) throw new Error('the response body has already been consumed');
    this.#sink = sink;
    sink.onDrain(() => this.#flow?.resume());
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#queued = 0;
    let ok = true;
    for (const chunk of chunks) ok = sink.write(chunk) && ok;
    if (this.#error) sink.destroy(this.#error);
    else if (this.#ended) sink.end();
    else if (ok) this.#flow?.resume();
  }
}
