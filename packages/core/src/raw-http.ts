import { STATUS_CODES } from 'node:http';
import type { Context } from './context.ts';
import type { EngineIdentity } from './engine-identity.ts';
import { coreError, toErrorResponse } from './errors.ts';
import { jsonBody } from './json-body.ts';
import type { LaneReply } from './raw-lane.ts';
import type { BodySink } from './response.ts';

/** Statuses whose responses never carry a body (with any answer to `HEAD`). @internal */
export const NO_BODY_STATUS: ReadonlySet<number> = new Set([204, 304]);
const LAST_CHUNK = '0\r\n\r\n';
const CRLF = '\r\n';
/** Bytes that would end a field early or smuggle a line into a head. */
const UNSAFE_IN_HEAD = /[\r\n\0]/;

/** One header line; a line break in it would smuggle a line of its own into the head. */
function field(name: string, value: string): string {
  if (UNSAFE_IN_HEAD.test(name) || UNSAFE_IN_HEAD.test(value))
    throw coreError(
      'DOCKHAND_INTERNAL',
      `a middleware set the header ${JSON.stringify(name)} with a line break in it`,
    );
  return `${name}: ${value}\r\n`;
}

/**
 * An HTTP/1.1 response head as written on a raw connection: the status line and the fields, then the empty line.
 * Write it as latin1, one byte per character, as `node:http` writes heads.
 *
 * @param status - the status code
 * @param fields - flat `[name, value, ...]`
 * @param reason - the reason phrase; the standard one when left out
 * @returns the head
 * @throws {@link DockhandError} `DOCKHAND_INTERNAL` when a middleware put a line break into a field
 * @example
 * ```ts
 * responseHead(404, ['Content-Length', '0']); // 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'
 * ```
 * @internal
 */
export function responseHead(status: number, fields: readonly string[], reason?: string): string {
  let head = `HTTP/1.1 ${status} ${reason ?? STATUS_CODES[status] ?? ''}\r\n`;
  for (let i = 0; i < fields.length; i += 2) head += field(fields[i]!, fields[i + 1]!);
  return `${head}\r\n`;
}

/**
 * An HTTP/1.1 request head as written to the engine: the request line and the fields, then the empty line.
 *
 * @param method - the method
 * @param target - the path and query
 * @param fields - flat `[name, value, ...]`
 * @returns the head
 * @throws {@link DockhandError} `DOCKHAND_INTERNAL` when a middleware put a line break into a field, or a space or
 * line break into the target
 * @example
 * ```ts
 * requestHead('GET', '/_ping', ['Host', 'docker']); // 'GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n'
 * ```
 * @internal
 */
export function requestHead(method: string, target: string, fields: readonly string[]): string {
  if (UNSAFE_IN_HEAD.test(target) || target.includes(' '))
    throw coreError('DOCKHAND_INTERNAL', 'a middleware set a path with a space or line break in it');
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (let i = 0; i < fields.length; i += 2) head += field(fields[i]!, fields[i + 1]!);
  return `${head}\r\n`;
}

/**
 * The parts of a JSON error answer as the engine writes one: its status, its head's fields (the engine's identity
 * headers in its order, {@link EngineIdentity}, then `Content-Length`) and its body (`{"message": "..."}` and a
 * newline). Both ways of writing an answer use it: {@link errorResponse} on a raw connection, and node:http.
 *
 * @param err - what was thrown
 * @param identity - the engine's identity, learned from its answers
 * @returns the status, the fields (flat, to add to) and the body
 * @internal
 */
export function errorAnswer(
  err: unknown,
  identity: EngineIdentity,
): { status: number; fields: string[]; body: Buffer } {
  const { status, body } = toErrorResponse(err);
  const json = jsonBody(body);
  const fields = identity.head(['Content-Type', 'application/json']);
  fields.push('Content-Length', String(json.length));
  return { status, fields, body: json };
}

/**
 * A whole JSON error answer ({@link errorAnswer}) for a raw connection.
 *
 * @param err - what was thrown
 * @param close - whether to add `Connection: close`
 * @param identity - the engine's identity, learned from its answers
 * @param headOnly - the answer to a `HEAD` request: its head alone, with the `Content-Length` of the body it
 *   would have had (a body there is read as the start of the next answer)
 * @returns the status and the response bytes
 * @internal
 */
export function errorResponse(
  err: unknown,
  close: boolean,
  identity: EngineIdentity,
  headOnly = false,
): { status: number; bytes: Buffer } {
  const { status, fields, body } = errorAnswer(err, identity);
  if (close) fields.push('Connection', 'close');
  const head = Buffer.from(responseHead(status, fields), 'latin1');
  return { status, bytes: headOnly ? head : Buffer.concat([head, body]) };
}

/**
 * Writes the pipeline's answer to a request the byte lane served (see `RawLane`): what `node:http` would do with
 * it, on the lane's own connection. A body that arrived whole goes out with its `Content-Length` in one write; a
 * streamed one keeps the engine's `Content-Length` when nothing re-frames it, and is sent `chunked` otherwise; its
 * producer stops when the client goes away.
 *
 * @param ctx - the request, its response set
 * @param reply - the lane's side of the connection
 * @param close - the client asked to close the connection after this answer
 * @returns the status sent
 * @internal
 */
export function replyResponse(ctx: Context, reply: LaneReply, close: boolean): number {
  const r = ctx.response;
  if (r === undefined) {
    const { status, bytes } = errorResponse(
      coreError('DOCKHAND_INTERNAL', 'the pipeline produced no response'),
      close,
      ctx.upstream.identity,
      ctx.method === 'HEAD',
    );
    reply.end(close, bytes);
    return status;
  }
  const noBody = ctx.method === 'HEAD' || NO_BODY_STATUS.has(r.status);
  // (a stream of the pipeline's own that is not sent, this one too when no body is: its producer stops)
  ctx.stopStreams(noBody ? undefined : r);
  if (noBody) {
    const fields = r.headers.forwardable(r.reframed);
    if (close) fields.push('Connection', 'close');
    reply.end(close, responseHead(r.status, fields));
    return r.status;
  }
  const complete = r.completeBody();
  // the engine's own length stays where it wrote it; the framing as the engine's Go server writes it otherwise:
  // `Content-Length`, then `Connection`, then `Transfer-Encoding`
  const sized = !r.reframed && r.headers.get('content-length') !== undefined;
  const fields = r.headers.forwardable(!sized);
  if (complete !== undefined && !sized) fields.push('Content-Length', String(complete.length));
  if (close) fields.push('Connection', 'close');
  if (complete !== undefined) {
    reply.end(close, responseHead(r.status, fields), complete);
    return r.status;
  }
  const chunked = !sized;
  if (chunked) fields.push('Transfer-Encoding', 'chunked');
  reply.onAbort(() => r.abandon(new Error('client went away')));
  reply.write(responseHead(r.status, fields));
  r.pipeTo(replySink(reply, chunked, close));
  return r.status;
}

/** A response body's way to the lane's connection, in chunks of its own when `chunked`. */
function replySink(reply: LaneReply, chunked: boolean, close: boolean): BodySink {
  let resume: (() => void) | undefined;
  let waiting = false;
  return {
    write(chunk) {
      if (chunk.length === 0) return true;
      const ok = chunked ? reply.write(`${chunk.length.toString(16)}\r\n`, chunk, CRLF) : reply.write(chunk);
      if (!ok && !waiting && resume !== undefined) {
        waiting = true;
        reply.onDrain(() => {
          waiting = false;
          resume?.();
        });
      }
      return ok;
    },
    end() {
      if (chunked) reply.end(close, LAST_CHUNK);
      else reply.end(close);
    },
    destroy() {
      reply.destroy();
    },
    onDrain(fn) {
      resume = fn;
    },
  };
}
