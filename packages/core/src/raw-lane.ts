import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { DISCARD_MAX_BYTES, DISCARD_MAX_MS } from './body.ts';
import { coreError } from './errors.ts';
import { HeaderList } from './headers.ts';
import {
  ChunkedBody,
  headerFields,
  MAX_HEAD,
  type PlainRequestHead,
  parsePlainRequestHead,
  parseResponseHead,
} from './http-framing.ts';
import { ReadBuffers } from './read-buffers.ts';
import type { LaneRequest } from './request-summary.ts';
import { ProxyResponse } from './response.ts';
import type { UpstreamAddress } from './upstream.ts';

/** What a {@link RawLane} needs from its proxy. */
export interface RawLaneOptions {
  /** The engine. */
  readonly upstream: UpstreamAddress;
  /**
   * Where a plain request goes: to the engine as bytes (the request as the lane carries it, for `onResponse`),
   * through the middleware pipeline when that request is marked `toPipeline` (served by
   * {@link RawLaneOptions.serve}) or is `'pipeline'` (a path the proxy answers itself; over
   * {@link RawLaneOptions.pipeline}), or, with the connection, to `node:http` for good (`undefined`: routes that
   * take the connection over).
   */
  readonly admit: (head: PlainRequestHead) => LaneRequest | 'pipeline' | undefined;
  /**
   * Runs the pipeline for a request marked `toPipeline` whose body is at most `serveBodyMax` bytes, once the
   * whole body has arrived, and answers it through `reply`.
   */
  readonly serve: (request: LaneRequest, head: Buffer, body: Buffer | undefined, reply: LaneReply) => void;
  /** The largest body of a request the lane reads whole for {@link RawLaneOptions.serve}. */
  readonly serveBodyMax: number;
  /**
   * Opens an in-process connection to the proxy's `node:http` server, which runs the pipeline: for the requests
   * `serve` does not take (a larger body, a path the proxy answers itself).
   */
  readonly pipeline: () => Duplex;
  /**
   * Called as the head of each response the lane passes on arrives (or with 502 when the engine cannot be
   * reached), with the `performance.now()` at which the request was taken. What it throws is ignored.
   */
  readonly onResponse?: (request: LaneRequest, status: number, start: number) => void;
  /** Gives the connection to `node:http`, with the bytes the lane read ahead. */
  readonly handOff: (client: Socket, readAhead: Buffer) => void;
  /** The complete HTTP response to send when the engine cannot be reached. */
  readonly unreachable: (err: Error) => Buffer;
  /** How long an idle keep-alive connection is kept, in ms (see {@link RawLane.expireIdle}). */
  readonly keepAliveMs: number;
}

/** The most the lane reads from the engine at once. */
const READ_SIZE = 256 * 1024;
/** How many client bytes may wait while a response is in flight before the client is paused. */
const MAX_READ_AHEAD = 1024 * 1024;
const EMPTY = Buffer.alloc(0);
const HEAD_END = Buffer.from('\r\n\r\n');
const BARE_LF_END = Buffer.from('\n\n');

/** The most bytes a response head of the engine may take. */
const MAX_RESPONSE_HEAD = 64 * 1024;

/** A response head read on from where the last read left it: complete, or its bytes so far. */
type HeadRead =
  /** The head's bytes up to its final CRLF CRLF (`end`), and how many bytes of the chunk it took. */
  | { readonly buf: Buffer; readonly end: number; readonly used: number }
  /** Not complete yet: the bytes to keep for the next read (a copy, since the read buffer is reused). */
  | { readonly partial: Buffer };

/**
 * Reads on in a response head of the engine that may span reads.
 *
 * @param saved - the head's bytes from earlier reads (empty for a new head)
 * @param chunk - the bytes just read
 * @param from - where in `chunk` the head continues
 * @throws Error when the head grows past {@link MAX_RESPONSE_HEAD}
 */
function readResponseHead(saved: Buffer, chunk: Buffer, from: number): HeadRead {
  const buf = saved.length === 0 ? chunk.subarray(from) : Buffer.concat([saved, chunk.subarray(from)]);
  const end = buf.indexOf(HEAD_END);
  if (end !== -1) return { buf, end, used: end + 4 - saved.length };
  if (buf.length > MAX_RESPONSE_HEAD) throw new Error('the engine sent a response head over 64 KiB');
  return { partial: Buffer.from(buf) };
}

/**
 * Where the answer to a request the lane serves through the pipeline ({@link RawLaneOptions.serve}) goes: the
 * client's connection, which the lane takes back for the next request once the answer ends.
 *
 * @internal
 */
export interface LaneReply {
  /**
   * Writes bytes of the answer (strings as latin1, the bytes of a head), several at once in one write; `false`
   * when the client is slow.
   */
  write(...bytes: (Buffer | string)[]): boolean;
  /** Calls `fn` once, when the client has taken what was written (after `write` returned false). */
  onDrain(fn: () => void): void;
  /** Ends the answer, with its last bytes; `close` ends the connection after it. */
  end(close: boolean, ...bytes: (Buffer | string)[]): void;
  /** The answer cannot be completed: the connection is cut. */
  destroy(): void;
  /** Calls `fn` if the connection is cut before the answer ends (at once if it already was). */
  onAbort(fn: () => void): void;
  /** Whether any byte of the answer was written. */
  readonly started: boolean;
  /** Whether the proxy is shutting down, so the connection closes after this answer. */
  readonly closing: boolean;
  /** Whether the connection was cut (the client left) before the answer ended. */
  readonly gone: boolean;
  /**
   * Sends the request to the engine over the lane's own engine connection, and resolves with the engine's
   * response once its head has arrived; its body follows, with backpressure on the engine connection.
   *
   * @param method - the request's method (a `HEAD` answer has no body)
   * @param head - the whole request head, ending with the empty line
   * @param body - the request body, if any; the head carries its `Content-Length`
   * @param limit - the largest body a middleware may read from the response
   * @throws {@link DockhandError} `DOCKHAND_UPSTREAM_UNREACHABLE` when the engine cannot be reached
   */
  forward(method: string, head: string, body: Buffer | undefined, limit: number): Promise<ProxyResponse>;
}

/** A request the lane sent to the engine for the pipeline: its response as it arrives. */
interface Forwarded {
  readonly method: string;
  readonly limit: number;
  readonly resolve: (response: ProxyResponse) => void;
  readonly reject: (err: Error) => void;
  /** The head while it arrives (a copy: read buffers are reused). */
  head: Buffer;
  response: ProxyResponse | undefined;
  left: number;
  chunked: ChunkedBody | undefined;
  close: boolean;
  /** Whether any byte of the response arrived. */
  answered: boolean;
}

/**
 * A request the lane reads whole before serving it: its head, and its body as it arrives (copies: the request
 * lives as long as its answer, which must not keep a larger read-ahead chunk alive).
 */
interface Collecting {
  readonly request: LaneRequest;
  /** The head's bytes, up to its final CRLF CRLF. */
  readonly head: Buffer;
  /** The body, allocated at its full length and filled as it arrives. */
  readonly body: Buffer | undefined;
  filled: number;
}

/** The response in flight: its head while it arrives, then where its body ends. */
interface InFlight {
  head: Buffer;
  left: number;
  chunked: ChunkedBody | undefined;
  close: boolean;
  /** Bytes of this response already sent to the client. */
  sent: boolean;
  done: boolean;
  /** The request, and when it was taken (kept for `onResponse`); none for the pipeline, which logs its own. */
  request: LaneRequest | undefined;
  start: number;
  /** Where it went: the engine, the pipeline's connection, or the pipeline run by the lane itself. */
  to: 'engine' | 'pipeline' | 'serve';
}

/**
 * One client connection on the proxy's byte lane: requests that no middleware acts on are forwarded as the
 * client sent them over a connection of its own to the engine, and the engine's responses are copied back as
 * they arrive, reading only their framing (see `http-framing.ts`). No context, no header objects, no
 * re-encoding: this is what makes an empty pipeline cost little more than a socket relay.
 *
 * Requests are taken one at a time. A plain request that a middleware acts on is read whole (up to
 * `serveBodyMax`) and served through the pipeline by the proxy, which writes its answer to the connection; one
 * with a larger body, or that the proxy answers itself (a redirect, an ambiguous path), is written as it came to
 * an in-process connection to the proxy's `node:http` server, and its answer is copied back. Either way the
 * client's connection stays on the lane for the requests after it. The first request that is not plain, or that names a route which takes
 * the connection over (attach, exec start, BuildKit), ends the lane: at that request boundary, with nothing in
 * flight, the connection and the bytes read ahead go to `node:http` for good. A response without framing
 * (`101`, the old raw attach stream) turns the connection into a two-way splice, as the engine does.
 *
 * @internal
 */
export class RawLane {
  readonly #client: Socket;
  readonly #options: RawLaneOptions;
  #up: Socket | undefined;
  #upConnected = false;
  /** The in-process connection to the pipeline, opened on the first request that needs it. */
  #inner: Duplex | undefined;
  /** The request being read whole, to be served. */
  #collecting: Collecting | undefined;
  /** What cancels the answer being served, if the connection is cut first. */
  #abortServed: (() => void) | undefined;
  /** The engine request of the answer being served, until the engine's response is complete. */
  #forwarded: Forwarded | undefined;
  #readAhead: Buffer = EMPTY;
  #bodyLeft = 0;
  /**
   * How many more bytes of a request body the lane reads and drops, once the request was answered and its
   * connection is to close (undefined: none is being dropped). Closing with body bytes unread would reset the
   * connection, and a client still sending would fail its write instead of reading the answer.
   */
  #discardLeft: number | undefined;
  /** When the drain of a body after a closing answer began (it ends after {@link DISCARD_MAX_MS}). */
  #discardSince = 0;
  #method = 'GET';
  #inFlight: InFlight | undefined;
  #phase: 'idle' | 'busy' | 'splice' | 'gone' = 'idle';
  #clientEnded = false;
  #closing = false;
  #clientPaused = false;
  /** The sources (engine or pipeline connection) paused until the client drains. */
  readonly #paused = new Set<Duplex>();
  /** When the connection last became idle (`performance.now()`). */
  #idleSince = performance.now();

  /**
   * Takes over a freshly accepted connection.
   *
   * @param client - the accepted socket
   * @param options - the engine and the proxy's hooks
   */
  constructor(client: Socket, options: RawLaneOptions) {
    this.#client = client;
    this.#options = options;
    client.on('data', this.#onClientData);
    client.on('end', this.#onClientEnd);
    client.on('error', this.#onClientError);
    client.on('close', this.#onClientClose);
  }

  /**
   * Ends the connection if it has waited for a request, or for more of the body of one the lane reads whole,
   * longer than `keepAliveMs` (0: never), or has dropped a body after an answer that closes for longer than
   * `DISCARD_MAX_MS`.
   * The proxy calls this for every lane from one coarse timer: a socket timeout of its own would be re-armed on
   * every read and write, which costs more than the rest of a small request's work.
   *
   * @param now - `performance.now()`
   */
  expireIdle(now: number): void {
    const waiting =
      this.#phase === 'idle' || this.#collecting !== undefined || this.#discardLeft !== undefined;
    if (waiting && this.#options.keepAliveMs > 0 && now - this.#idleSince >= this.#options.keepAliveMs)
      this.destroy();
    // a body dropped after an answer that closes: at most DISCARD_MAX_MS, however slowly it trickles in, as on
    // node:http's side (the idle time above restarts with each byte: found by review, stop 28)
    else if (this.#discardLeft !== undefined && now - this.#discardSince >= DISCARD_MAX_MS) this.destroy();
  }

  /** Ends the connection once the request in flight is answered (at once when idle). */
  shutdown(): void {
    this.#closing = true;
    if (this.#phase === 'idle') this.#finish();
    // a request still arriving has not reached the pipeline: nothing of it is run once the proxy is closing
    else if (this.#collecting !== undefined) this.destroy();
    else if (this.#phase === 'splice') {
      this.#client.end();
      this.#up?.end();
    }
  }

  /** Cuts the connection now. */
  destroy(): void {
    this.#phase = 'gone';
    this.#client.destroy();
    this.#up?.destroy();
    this.#inner?.destroy();
    this.#collecting = undefined;
    this.#failForward(new Error('the client connection was closed'), true);
    const abort = this.#abortServed;
    this.#abortServed = undefined;
    abort?.();
  }

  // --- client side ---------------------------------------------------------------------------------------

  #onClientData = (chunk: Buffer): void => {
    // once the lane is done with the connection, nothing the client sends is forwarded: the rest of a body the
    // engine stopped reading (it answered and closed) would otherwise reach a new engine connection as a request
    if (this.#phase === 'gone') return;
    if (this.#discardLeft !== undefined) {
      this.#discard(chunk.length);
      return;
    }
    if (this.#bodyLeft > 0) {
      const n = Math.min(this.#bodyLeft, chunk.length);
      this.#bodyLeft -= n;
      this.#sendUp(n === chunk.length ? chunk : chunk.subarray(0, n), false);
      if (n === chunk.length) {
        if (this.#bodyLeft === 0) this.#maybeNext();
        return;
      }
      chunk = chunk.subarray(n);
    }
    this.#readAhead = this.#readAhead.length === 0 ? chunk : Buffer.concat([this.#readAhead, chunk]);
    if (this.#phase === 'idle') this.#next();
    else if (this.#readAhead.length > MAX_READ_AHEAD) this.#pauseClient();
  };

  #onClientEnd = (): void => {
    this.#clientEnded = true;
    if (this.#phase === 'idle' || this.#discardLeft !== undefined) this.#finish();
    // a client that hangs up in the middle of a request abandons it, as node:http and the engine itself take it:
    // a stream that may never end (wait, events, logs -f) must not hold the engine connection open. An answer
    // that is complete but still draining to the client is not cut: the lane closes after it
    else if (this.#phase === 'busy' && !this.#inFlight?.done) this.destroy();
  };

  #onClientError = (): void => {
    this.destroy();
  };

  #onClientClose = (): void => {
    if (this.#phase !== 'gone') this.destroy();
  };

  #pauseClient(): void {
    if (this.#clientPaused) return;
    this.#clientPaused = true;
    this.#client.pause();
  }

  #resumeClient(): void {
    if (!this.#clientPaused) return;
    this.#clientPaused = false;
    this.#client.resume();
  }

  /** Reads the next request head from what the client sent, and forwards it or hands the connection over. */
  #next(): void {
    const buf = this.#readAhead;
    const end = buf.indexOf(HEAD_END);
    if (end === -1) {
      // wait for the rest of the head, unless it is too long or ends in bare LFs: node:http judges those
      if (buf.length > MAX_HEAD || buf.indexOf(BARE_LF_END) !== -1) this.#handOff();
      else if (this.#clientEnded) this.#finish();
      return;
    }
    if (end > MAX_HEAD) {
      this.#handOff();
      return;
    }
    const head = parsePlainRequestHead(buf, end);
    const request = head === undefined ? undefined : this.#options.admit(head);
    if (head === undefined || request === undefined) {
      this.#handOff();
      return;
    }
    const to =
      request === 'pipeline'
        ? 'pipeline'
        : !request.toPipeline
          ? 'engine'
          : head.bodyLength <= this.#options.serveBodyMax
            ? 'serve'
            : 'pipeline';
    const headLength = end + 4;
    const inBuf = Math.min(head.bodyLength, buf.length - headLength);
    const take = headLength + inBuf;
    this.#readAhead = take === buf.length ? EMPTY : buf.subarray(take);
    this.#bodyLeft = head.bodyLength - inBuf;
    if (to === 'serve')
      this.#collecting = {
        request: request as LaneRequest,
        head: Buffer.from(buf.subarray(0, end)),
        body: head.bodyLength > 0 ? Buffer.allocUnsafe(head.bodyLength) : undefined,
        filled: 0,
      };
    this.#method = head.method;
    this.#inFlight = {
      head: EMPTY,
      left: 0,
      chunked: undefined,
      close: false,
      sent: false,
      done: false,
      request: to === 'engine' ? (request as LaneRequest) : undefined,
      start: this.#options.onResponse === undefined || to !== 'engine' ? 0 : performance.now(),
      to,
    };
    this.#phase = 'busy';
    if (this.#readAhead.length > MAX_READ_AHEAD) this.#pauseClient();
    if (to === 'serve') this.#collect(buf.subarray(headLength, take));
    else this.#sendUp(take === buf.length ? buf : buf.subarray(0, take), true);
  }

  /** After a request body is sent or a response is complete: on to the next request when both are. */
  #maybeNext(): void {
    if (this.#phase !== 'busy' || this.#bodyLeft > 0 || !this.#inFlight?.done) return;
    this.#inFlight = undefined;
    if (this.#closing || (this.#clientEnded && this.#readAhead.length === 0)) {
      this.#finish();
      return;
    }
    this.#phase = 'idle';
    this.#idleSince = performance.now();
    this.#resumeClient();
    if (this.#readAhead.length > 0) this.#next();
  }

  /**
   * Drops `n` bytes the client sent after an answer that closes the connection, while its request body is still
   * arriving; closes once the body has ended (what follows it is never read), and cuts the connection once more
   * than {@link DISCARD_MAX_BYTES} were dropped.
   */
  #discard(n: number): void {
    this.#idleSince = performance.now();
    this.#bodyLeft -= Math.min(n, this.#bodyLeft);
    this.#discardLeft! -= n;
    if (this.#discardLeft! < 0) this.destroy();
    else if (this.#bodyLeft === 0) this.#finish();
  }

  #handOff(): void {
    this.#phase = 'gone';
    const client = this.#client;
    client.pause();
    client.off('data', this.#onClientData);
    client.off('end', this.#onClientEnd);
    client.off('error', this.#onClientError);
    client.off('close', this.#onClientClose);
    this.#up?.destroy();
    this.#inner?.destroy();
    this.#options.handOff(client, this.#readAhead);
  }

  /** Closes both sides after the last response. */
  #finish(): void {
    this.#phase = 'gone';
    this.#up?.destroy();
    this.#inner?.destroy();
    this.#client.end();
  }

  // --- engine side ---------------------------------------------------------------------------------------

  /**
   * Writes request bytes to where the request in flight goes. Only the start of a request opens a connection:
   * the rest of a body whose connection is gone (it answered and closed) must never reach a new one, where it
   * would be read as a request of its own.
   */
  #sendUp(bytes: Buffer, start: boolean): void {
    if (this.#inFlight?.to === 'serve') {
      this.#collect(bytes);
      return;
    }
    const toPipeline = this.#inFlight?.to === 'pipeline';
    let target: Duplex | undefined = toPipeline ? this.#inner : this.#up;
    if (target === undefined) {
      if (!start) {
        this.#finish();
        return;
      }
      target = toPipeline ? this.#openPipeline() : this.#openEngine();
    }
    if (!target.write(bytes)) {
      this.#pauseClient();
      target.once('drain', () => {
        if (this.#phase === 'busy' || this.#phase === 'idle') this.#resumeClient();
      });
    }
  }

  // --- requests served through the pipeline by the proxy -------------------------------------------------

  /** Keeps body bytes of a request to be served; once its body is complete, hands it to the proxy. */
  #collect(bytes: Buffer): void {
    const c = this.#collecting;
    if (c === undefined) return;
    if (c.body !== undefined && bytes.length > 0) c.filled += bytes.copy(c.body, c.filled);
    this.#idleSince = performance.now();
    if (this.#bodyLeft > 0) return;
    this.#collecting = undefined;
    this.#options.serve(c.request, c.head, c.body, this.#reply(this.#inFlight!));
  }

  /** The reply through which the proxy answers the request in flight. */
  #reply(r: InFlight): LaneReply {
    const client = this.#client;
    // the answer is the connection's only while this request is the one in flight
    const live = (): boolean => this.#inFlight === r && this.#phase === 'busy' && !r.done;
    const closing = (): boolean => this.#closing;
    const write = (bytes: (Buffer | string)[]): void => {
      if (bytes.length === 1) client.write(bytes[0]!, 'latin1');
      else {
        client.cork();
        for (const b of bytes) client.write(b, 'latin1');
        client.uncork();
      }
    };
    let started = false;
    return {
      write: (...bytes) => {
        if (!live()) return true;
        started = true;
        r.sent = true;
        write(bytes);
        return !client.writableNeedDrain;
      },
      onDrain: (fn) => {
        client.once('drain', () => {
          if (live()) fn();
        });
      },
      end: (close, ...bytes) => {
        if (!live()) return;
        this.#abortServed = undefined;
        this.#dropForward();
        if (bytes.length > 0) {
          started = true;
          r.sent = true;
          write(bytes);
        }
        r.done = true;
        if (close || this.#closing) this.#finish();
        // the next request waits until the client has taken this answer, as for node:http and the engine
        else if (client.writableNeedDrain)
          client.once('drain', () => {
            if (this.#inFlight === r && this.#phase === 'busy') this.#maybeNext();
          });
        else this.#maybeNext();
      },
      destroy: () => {
        if (!live()) return;
        this.#abortServed = undefined;
        this.destroy();
      },
      forward: (method, head, body, limit) =>
        new Promise<ProxyResponse>((resolve, reject) => {
          if (!live()) {
            reject(new Error('the client connection was closed'));
            return;
          }
          if (this.#forwarded !== undefined) {
            reject(new Error('a request is already on its way to the engine'));
            return;
          }
          this.#forwarded = {
            method,
            limit,
            resolve,
            reject,
            head: EMPTY,
            response: undefined,
            left: 0,
            chunked: undefined,
            close: false,
            answered: false,
          };
          const up = this.#up ?? this.#openEngine();
          if (body === undefined || body.length === 0) up.write(head, 'latin1');
          else {
            up.cork();
            up.write(head, 'latin1');
            up.write(body);
            up.uncork();
          }
        }),
      onAbort: (fn) => {
        if (live()) this.#abortServed = fn;
        else if (!r.done) fn();
      },
      get started() {
        return started;
      },
      get closing() {
        return closing();
      },
      get gone() {
        return !r.done && !live();
      },
    };
  }

  /** Reads the engine's response to a request forwarded for the pipeline into its {@link ProxyResponse}. */
  #onForwardedData(chunk: Buffer): void {
    const f = this.#forwarded;
    if (f === undefined) {
      this.destroy(); // the engine never speaks unasked
      return;
    }
    f.answered = true;
    let from = 0;
    let done = false;
    try {
      while (from < chunk.length && !done) {
        const response = f.response;
        if (response === undefined) {
          const read = readResponseHead(f.head, chunk, from);
          if ('partial' in read) {
            f.head = read.partial;
            return;
          }
          const { buf, end } = read;
          from += read.used;
          f.head = EMPTY;
          const head = parseResponseHead(buf, end, f.method);
          if (head.status < 200 && head.status !== 101) continue; // 1xx: the final response follows
          if (head.status === 101 || head.framing.kind === 'close')
            throw new Error('the engine answered a plain request with a raw stream');
          const up = this.#up!;
          const fields = new HeaderList(headerFields(buf, end));
          // a length beside chunked framing means nothing (RFC 9112 §6.3): it must not frame the decoded body
          if (head.framing.kind === 'chunked') fields.delete('content-length');
          // only while this response is the one arriving: the connection goes on to the next request after it
          const r = new ProxyResponse(head.status, fields, {
            flow: {
              pause: () => {
                if (this.#forwarded === f) up.pause();
              },
              resume: () => {
                if (this.#forwarded === f) up.resume();
              },
            },
            limit: f.limit,
          });
          f.response = r;
          f.close = head.close;
          if (head.framing.kind === 'length') f.left = head.framing.length;
          else if (head.framing.kind === 'chunked') f.chunked = new ChunkedBody();
          f.resolve(r);
          done = f.left === 0 && f.chunked === undefined;
        } else if (f.chunked !== undefined) {
          // what is pushed is copied: the read buffer is read into again
          const end = f.chunked.scan(chunk, from, (a, b) => response.push(Buffer.from(chunk.subarray(a, b))));
          if (end === -1) return;
          from = end;
          done = true;
        } else {
          const n = Math.min(f.left, chunk.length - from);
          response.push(Buffer.from(chunk.subarray(from, from + n)));
          f.left -= n;
          from += n;
          done = f.left === 0;
        }
      }
    } catch (err) {
      // the engine's answer is not HTTP the lane can read: the pipeline answers 502, or the client's stream is cut
      this.#failForward(err as Error);
      this.#dropEngine();
      return;
    }
    if (!done || f.response === undefined) return;
    // the response is complete: bytes after it were never asked for
    if (from < chunk.length) {
      this.#failForward(new Error('the engine sent bytes after its response'));
      this.#dropEngine();
      return;
    }
    this.#forwarded = undefined;
    if (f.close) this.#dropEngine();
    // a response queued past its limit paused the connection: the next request needs it reading
    else this.#up?.resume();
    try {
      f.response.end();
    } catch {
      // a middleware's transform of the last JSON line threw: the answer cannot be completed
      this.destroy();
    }
  }

  /**
   * The engine request of a served answer failed: before its head (unreachable, or a broken or unreadable
   * answer: 502), or in the middle of its body (the client's stream is cut). `clientGone`: the lane is closing
   * because the client left, which is nobody's error to report.
   */
  #failForward(err: Error, clientGone = false): void {
    const f = this.#forwarded;
    if (f === undefined) return;
    this.#forwarded = undefined;
    if (f.response !== undefined) f.response.fail(err);
    else if (clientGone) f.reject(err);
    else if (!f.answered && !this.#upConnected)
      f.reject(
        coreError('DOCKHAND_UPSTREAM_UNREACHABLE', `cannot reach the Docker engine: ${err.message}`, err),
      );
    else
      f.reject(
        coreError('DOCKHAND_UPSTREAM_FAILED', `the Docker engine's answer failed: ${err.message}`, err),
      );
  }

  /** The served answer ended before the engine's response did (a middleware answered instead): drop it. */
  #dropForward(): void {
    const f = this.#forwarded;
    if (f === undefined) return;
    this.#forwarded = undefined;
    this.#dropEngine();
    // its end comes now: whatever waits on it (a build's holds, released on its end) is not left waiting (review 28d)
    f.response?.fail(new Error('the answer sent was not the engine’s'));
  }

  /** Closes the engine connection; the next request to the engine opens another. */
  #dropEngine(): void {
    this.#up?.destroy();
    this.#up = undefined;
  }

  /** Opens a connection to the engine, whose bytes come back through `#onUpBytes`. */
  #openEngine(): Socket {
    const address = this.#options.upstream;
    // the engine's bytes are read into buffers of the lane's own, read into again once the client has them
    const buffers = new ReadBuffers(this.#client, { max: READ_SIZE });
    const onread = {
      buffer: () => buffers.next(),
      callback: (n: number, buf: Uint8Array): boolean => {
        // the answer to a request the pipeline serves is copied into its response, never written to the client
        // from this buffer: it must not count as bytes the client holds
        if (this.#forwarded !== undefined && this.#phase === 'busy')
          this.#onForwardedData(buffers.copied(n, buf));
        else this.#onUpBytes(buffers.filled(n, buf));
        return true; // #toClient pauses the socket itself when the client is slow
      },
    };
    const up =
      'socketPath' in address
        ? connect({ path: address.socketPath, onread })
        : connect({ port: address.port, host: address.host, noDelay: true, onread });
    this.#up = up;
    this.#upConnected = false;
    up.on('connect', () => {
      this.#upConnected = true;
    });
    up.on('end', this.#onUpEnd);
    up.on('error', this.#onUpError);
    up.on('close', () => {
      // a connection the lane dropped while idle closes late: only the current one matters
      if (this.#up === up && this.#phase === 'splice') this.#client.destroy();
    });
    return up;
  }

  /** Opens the in-process connection to the pipeline, whose answers come back through `#onUpData`. */
  #openPipeline(): Duplex {
    const self = this.#options.pipeline();
    this.#inner = self;
    self.on('data', (chunk: Buffer) => {
      if (this.#inner === self && this.#phase === 'busy' && this.#inFlight?.to === 'pipeline')
        this.#onUpData(chunk);
      else if (this.#inner === self) this.destroy(); // the pipeline never speaks unasked
    });
    const gone = (): void => {
      if (this.#inner !== self) return;
      this.#inner = undefined;
      self.destroy();
      // the pipeline closed its side in the middle of an answer: the client sees the same
      if (this.#phase === 'busy' && this.#inFlight?.to === 'pipeline' && !this.#inFlight.done) this.destroy();
    };
    self.on('end', gone);
    self.on('close', gone);
    self.on('error', () => {
      if (this.#inner === self) this.destroy();
    });
    return self;
  }

  #onUpBytes(chunk: Buffer): void {
    if (this.#phase === 'splice') this.#toClient(chunk);
    else if (this.#phase === 'gone') return;
    else if (this.#inFlight?.to === 'serve') this.#onForwardedData(chunk);
    // the engine never speaks unasked, and it was not asked while the pipeline's connection answers
    else if (this.#inFlight?.to === 'pipeline') this.destroy();
    else this.#onUpData(chunk);
  }

  #onUpData(chunk: Buffer): void {
    const r = this.#inFlight;
    if (r === undefined || r.done) {
      // the engine never speaks unasked on a request/response connection
      this.destroy();
      return;
    }
    // the bytes go to the client first, unchanged; reading their framing is only for what comes next
    this.#toClient(chunk);
    let from = 0;
    while (from < chunk.length && !r.done) {
      if (r.chunked !== undefined) {
        let end: number;
        try {
          end = r.chunked.scan(chunk, from);
        } catch {
          this.destroy();
          return;
        }
        from = end === -1 ? chunk.length : end;
        r.done = end !== -1;
      } else if (r.left > 0) {
        const n = Math.min(r.left, chunk.length - from);
        r.left -= n;
        from += n;
        r.done = r.left === 0;
      } else {
        let head: ReturnType<typeof parseResponseHead>;
        try {
          const read = readResponseHead(r.head, chunk, from);
          if ('partial' in read) {
            r.head = read.partial;
            return;
          }
          from += read.used;
          r.head = EMPTY;
          head = parseResponseHead(read.buf, read.end, this.#method);
        } catch {
          this.destroy();
          return;
        }
        if (head.status === 101 || head.framing.kind === 'close') {
          if (r.to === 'pipeline') {
            // node:http frames every answer to a plain request; anything else is not ours to splice
            this.destroy();
            return;
          }
          // the connection is the stream now: copy both ways until either side closes
          this.#report(r, head.status);
          this.#splice();
          return;
        }
        if (head.status < 200) continue; // 1xx: the final response follows
        this.#report(r, head.status);
        r.close = head.close;
        if (head.framing.kind === 'length') r.left = head.framing.length;
        else if (head.framing.kind === 'chunked') r.chunked = new ChunkedBody();
        r.done = r.left === 0 && r.chunked === undefined;
      }
    }
    // bytes after the end of a response were never asked for
    if (from < chunk.length) {
      this.destroy();
      return;
    }
    if (r.done) {
      if (r.close) {
        if (r.to === 'pipeline') {
          this.#inner?.destroy();
          this.#inner = undefined;
        } else {
          this.#dropEngine();
          // the client was told the connection closes (it asked so, or the engine decided): it does, as on the
          // engine, where it stayed open until the lane's idle limit (found by review 29b: 30 s)
          this.#closing = true;
        }
        if (this.#bodyLeft > 0) {
          // the connection closes after the body has arrived (read and dropped), not before
          this.#discardLeft = DISCARD_MAX_BYTES;
          this.#idleSince = this.#discardSince = performance.now();
          this.#resumeClient();
          return;
        }
      }
      this.#maybeNext();
    }
  }

  #report(r: InFlight, status: number): void {
    const report = this.#options.onResponse;
    if (report === undefined || r.request === undefined) return;
    try {
      report(r.request, status, r.start);
    } catch {
      // a logger's trouble is not the connection's
    }
  }

  #toClient(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.#inFlight) this.#inFlight.sent = true;
    const source = this.#inFlight?.to === 'pipeline' ? this.#inner : this.#up;
    const client = this.#client;
    if (!client.write(bytes) && source && !this.#paused.has(source)) {
      // 'drain' follows a write that returned false; each source is held back on its own
      this.#paused.add(source);
      source.pause();
      client.once('drain', () => {
        this.#paused.delete(source);
        source.resume();
      });
    }
  }

  #onUpEnd = (): void => {
    if (this.#phase === 'splice') return;
    if (this.#forwarded !== undefined) {
      // the engine hung up before the end of its response to the pipeline's request
      this.#failForward(new Error('the engine closed the connection in the middle of a response'));
      this.#dropEngine();
      return;
    }
    if (this.#inFlight === undefined || this.#inFlight.done || this.#inFlight.to !== 'engine') {
      // the engine closed an idle connection: the next request opens another
      this.#dropEngine();
      return;
    }
    // the engine hung up in the middle of a response: the client sees the same
    this.destroy();
  };

  #onUpError = (err: Error): void => {
    if (this.#phase === 'splice' || this.#phase === 'gone') {
      this.destroy();
      return;
    }
    if (this.#forwarded !== undefined) {
      // the pipeline answers the client: 502 when the engine was not reached, a cut stream otherwise
      this.#failForward(err);
      this.#dropEngine();
      return;
    }
    if (this.#inFlight !== undefined && this.#inFlight.to !== 'engine') {
      // the engine connection was idle: the next request to the engine opens another
      this.#dropEngine();
      return;
    }
    if (!this.#upConnected && this.#inFlight !== undefined && !this.#inFlight.sent) {
      // the engine is unreachable: answer like the pipeline does, and close
      this.#report(this.#inFlight, 502);
      this.#phase = 'gone';
      this.#up = undefined;
      this.#inner?.destroy();
      this.#client.end(this.#options.unreachable(err));
      return;
    }
    this.destroy();
  };

  #splice(): void {
    const client = this.#client;
    const up = this.#up!;
    this.#phase = 'splice';
    this.#inFlight = undefined;
    client.off('data', this.#onClientData);
    client.off('end', this.#onClientEnd);
    // engine → client goes on through #onUpBytes; client → engine is piped
    up.off('end', this.#onUpEnd);
    up.on('end', () => client.end());
    if (this.#readAhead.length > 0) up.write(this.#readAhead);
    this.#readAhead = EMPTY;
    this.#clientPaused = false;
    if (this.#clientEnded) up.end();
    else client.pipe(up);
    client.resume();
  }
}
