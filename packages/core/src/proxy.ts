import { chmod, lstat, unlink } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type Duplex, duplexPair, type Readable } from 'node:stream';
import { type Logger, pino } from 'pino';
import type { Dispatcher, Pool } from 'undici';
import { DISCARD_MAX_BYTES, DISCARD_MAX_MS, discardRest } from './body.ts';
import { Context } from './context.ts';
import type { EngineIdentity } from './engine-identity.ts';
import { coreError, DockhandError, toErrorResponse } from './errors.ts';
import { HeaderList, rawToStrings } from './headers.ts';
import { headerFields, type PlainRequestHead } from './http-framing.ts';
import { compose, type Middleware, untouchedTest } from './middleware.ts';
import { readableQuery } from './query-check.ts';
import {
  errorAnswer,
  errorResponse,
  NO_BODY_STATUS,
  replyResponse,
  requestHead,
  responseHead,
} from './raw-http.ts';
import { type LaneReply, RawLane } from './raw-lane.ts';
import { ProxyRequest } from './request.ts';
import { LaneRequest } from './request-summary.ts';
import { type BodySink, ProxyResponse } from './response.ts';
import { type ResolvedPath, resolvePath, withVersion } from './router.ts';
import { createUpstreamPool, parseDockerHost, Upstream, type UpstreamAddress } from './upstream.ts';

/** Options of {@link createProxy}. */
export interface ProxyOptions {
  /** The engine: a `DOCKER_HOST`-style URL (`unix:///var/run/docker.sock`, `tcp://host:port`) or address. */
  readonly upstream: string | UpstreamAddress;
  /** The pipeline, outermost first. Empty: a pass-through proxy. */
  readonly middleware?: Middleware | readonly Middleware[];
  /** The logger; the proxy only logs through it. Silent when left out. */
  readonly logger?: Logger;
  /** The largest request or response body a middleware may read, in bytes (default 32 MiB). */
  readonly bodyLimit?: number;
  /** How long {@link DockerProxy.close} waits for requests in flight before cutting them (default 5 s). */
  readonly closeGraceMs?: number;
  /**
   * How long a client connection may wait between requests before the proxy closes it, in ms (default 30 s,
   * the engine's own keep-alive is longer; 0: no limit, as for `node:http`). A request in flight, however long
   * its stream, is never cut by it.
   */
  readonly keepAliveMs?: number;
  /**
   * Logs one `info` line per request (`method`, `operation`, `path`, `status`, `ms`; `lane: true` when it took
   * the byte lane), when the response head goes out or the request is refused. Unlike a `logRequests()`
   * middleware in the pipeline, it keeps the byte lane open and logs refusals with their status.
   */
  readonly accessLog?: boolean;
}

/** Where to listen: a unix socket path (with an optional file mode) or a TCP host and port. */
export type ListenTarget =
  | string
  | { readonly path: string; readonly mode?: number }
  | { readonly host?: string; readonly port: number };

/**
 * A Docker Engine API proxy. Create it with {@link createProxy}.
 */
export interface DockerProxy extends AsyncDisposable {
  /**
   * Starts listening.
   *
   * @param target - `/path/to.sock`, `unix:///path`, `host:port`, `tcp://host:port`, or an object
   * @returns the socket path, or the bound TCP address
   */
  listen(target: ListenTarget): Promise<string | AddressInfo>;
  /** Stops accepting, lets requests in flight finish within the grace period, then cuts the rest. */
  close(): Promise<void>;
  /** The engine, for calls of one's own. */
  readonly upstream: Upstream;
  /** The underlying `node:http` server. */
  readonly server: http.Server;
}

/** The largest request body the byte lane reads whole to serve the request through the pipeline itself. */
const SERVE_BODY_MAX = 256 * 1024;

/**
 * Creates a Docker Engine API proxy: every request is resolved to its Engine API route, runs through the
 * middleware pipeline, and is forwarded to the engine with undici; streams and hijacked connections (attach,
 * exec, BuildKit) pass through. Requests every middleware leaves untouched (`untouchedWhen`) are
 * forwarded as bytes instead, on the byte lane.
 *
 * @param options - the engine, the pipeline and the logger
 * @returns the proxy, not yet listening
 * @example
 * ```ts
 * await using proxy = createProxy({ upstream: 'unix:///var/run/docker.sock', middleware: [logRequests()] });
 * await proxy.listen('/tmp/dockhand.sock');
 * // DOCKER_HOST=unix:///tmp/dockhand.sock docker ps
 * ```
 */
export function createProxy(options: ProxyOptions): DockerProxy {
  const address = typeof options.upstream === 'string' ? parseDockerHost(options.upstream) : options.upstream;
  const pool: Pool = createUpstreamPool(address);
  const upstream = new Upstream(pool);
  const logger = options.logger ?? pino({ level: 'silent' });
  const limit = options.bodyLimit ?? 32 * 1024 * 1024;
  const grace = options.closeGraceMs ?? 5000;
  const mws =
    options.middleware === undefined
      ? []
      : Array.isArray(options.middleware)
        ? options.middleware
        : [options.middleware];
  const pipeline = compose(mws as Middleware[]);
  const accessLog = options.accessLog ?? false;

  /** One access-log line: when the response head went out (or the refusal), with its status. */
  function logAccess(
    fields: { method: string; operation: string | undefined; path: string },
    status: number,
    start: number,
    lane = false,
  ): void {
    logger.info(
      {
        method: fields.method,
        operation: fields.operation ?? null,
        path: fields.path,
        status,
        ms: Math.round((performance.now() - start) * 10) / 10,
        ...(lane ? { lane: true } : {}),
      },
      'request',
    );
  }
  /** The access-log fields of a request the pipeline could not make a context of. */
  function rawFields(req: IncomingMessage): { method: string; operation: undefined; path: string } {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    return { method: req.method ?? 'GET', operation: undefined, path: q === -1 ? url : url.slice(0, q) };
  }
  const hijacked = new Set<Duplex>();
  const lanes = new Set<RawLane>();
  let laneSweep: NodeJS.Timeout | undefined;
  let nextId = 0;

  const keepAliveMs = options.keepAliveMs ?? 30_000;
  const server = http.createServer({
    requestTimeout: 0,
    headersTimeout: 60_000,
    keepAliveTimeout: keepAliveMs,
  });
  // Requests every middleware leaves untouched (every request, for an empty pipeline) take the byte lane:
  // forwarded as sent, responses copied back. Plain requests the pipeline must see go to node:http over an
  // in-process connection of the lane's; the first request that is not plain, or that names a route which takes
  // the connection over, moves the connection itself to node:http.
  const untouched = untouchedTest(pipeline);
  if (untouched !== undefined) {
    const httpConnection = server.listeners('connection')[0] as (socket: Duplex) => void;
    server.removeListener('connection', httpConnection);
    // Clients send the same few request lines over and over: the lane keeps what their paths resolve to, a
    // bounded map emptied when full. `'pipeline'`: a path the proxy answers itself (a redirect, a refusal) or
    // one not in the canonical form the lane would have to forward; `'hijack'`: a route that takes the
    // connection over, which goes to node:http with the connection.
    const laneRoutes = new Map<string, ResolvedPath | 'pipeline' | 'hijack'>();
    const laneRoute = (method: string, rawPath: string): ResolvedPath | 'pipeline' | 'hijack' => {
      const key = `${method} ${rawPath}`;
      let resolved = laneRoutes.get(key);
      if (resolved !== undefined) return resolved;
      try {
        const r = resolvePath(method, rawPath);
        if (r.route?.hijack !== undefined) resolved = 'hijack';
        // the lane forwards the path as sent, so it takes only paths already in the canonical form
        else if (r.redirect !== undefined || rawPath !== withVersion(r.path, r.apiVersion))
          resolved = 'pipeline';
        else {
          // shared by every request with this line: no test may change it
          Object.freeze(r.params);
          resolved = r;
        }
      } catch {
        resolved = 'pipeline'; // the pipeline answers what the router refuses
      }
      if (laneRoutes.size >= 1024) laneRoutes.clear();
      laneRoutes.set(key, resolved);
      return resolved;
    };
    const admit = (head: PlainRequestHead): LaneRequest | 'pipeline' | undefined => {
      const target = head.target;
      const q = target.indexOf('?');
      // (refused by the pipeline's context)
      if (q !== -1 && !readableQuery(target.slice(q + 1))) return 'pipeline';
      const resolved = laneRoute(head.method, q === -1 ? target : target.slice(0, q));
      if (resolved === 'hijack') return undefined;
      if (resolved === 'pipeline') return 'pipeline';
      const request = new LaneRequest(head, resolved, q === -1 ? '' : target.slice(q + 1));
      try {
        request.toPipeline = !untouched(request);
      } catch (err) {
        // a test that fails sends the request to the pipeline, where the middleware itself decides
        logger.warn({ err }, 'an untouchedWhen test threw; the request goes through the pipeline');
        request.toPipeline = true;
      }
      return request;
    };
    // a plain request the pipeline must see, read whole by the lane: the pipeline runs on it there, and the
    // answer goes back on the client's connection, without node:http
    const serve = (
      request: LaneRequest,
      headBytes: Buffer,
      body: Buffer | undefined,
      reply: LaneReply,
    ): void => {
      const start = accessLog ? performance.now() : 0;
      const { head, resolved } = request;
      const q = head.target.indexOf('?');
      const target = {
        rawPath: q === -1 ? head.target : head.target.slice(0, q),
        query: request.search,
        // the lane's resolution is shared by every request with this line: the context gets params of its own
        resolved: { ...resolved, params: { ...resolved.params } },
      };
      const ctx = newContext(head.method, target, headerFields(headBytes), body);
      const close = head.close || reply.closing;
      /** Answers with the error, or cuts the connection when part of the answer is out. */
      const refuse = (err: unknown): number => {
        if (reply.gone) {
          // the client left before its answer: nobody's failure, and nobody to answer (499, as nginx logs it)
          ctx.log.debug({ err }, 'the client closed the connection before the answer');
          stopUnsent(ctx, undefined, new Error('client went away'));
          return 499;
        }
        logError(err, ctx);
        // an engine response nobody will read is not left streaming, nor a stream of the pipeline's own
        stopUnsent(ctx, undefined, err instanceof Error ? err : new Error(String(err)));
        if (reply.started) {
          reply.destroy();
          return toErrorResponse(err).status;
        }
        const { status, bytes } = errorResponse(err, close, upstream.identity, ctx.method === 'HEAD');
        reply.end(close, bytes);
        return status;
      };
      let run: Promise<void>;
      try {
        // (a lone middleware is the pipeline itself: one written without async may return anything)
        run = Promise.resolve(pipeline(ctx, () => forwardOnLane(ctx, reply)));
      } catch (err) {
        run = Promise.reject(err); // a middleware that throws before it returns a promise
      }
      run
        .then(() => {
          try {
            stopUnsent(ctx, ctx.response);
            return replyResponse(ctx, reply, close);
          } catch (err) {
            // a header a middleware set that cannot be written, a body already consumed, ...
            return refuse(err);
          }
        }, refuse)
        .then(
          (status) => {
            if (accessLog) logAccess(ctx, status, start);
          },
          (err: unknown) => {
            // not even the error could be written
            logError(err, ctx);
            reply.destroy();
          },
        )
        .catch(() => {
          // only a logger that throws gets here: the connection was answered or cut already
        });
    };
    // the pipeline's end of an in-process connection, served by node:http like an accepted socket
    const pipelineConnection = (): Duplex => {
      const [lane, http] = duplexPair();
      // a pair's ends only see each other's end of data: when either end is dropped, the other must close too,
      // as with a socket (node:http then aborts a request in flight upstream; the lane ends an unfinished answer)
      lane.once('close', () => http.destroy());
      // (an answer node:http finished writing still reaches the lane in full: its end follows its bytes)
      http.once('close', () => {
        if (!http.writableFinished) lane.destroy();
      });
      httpConnection.call(server, http);
      return lane;
    };
    const onResponse = accessLog
      ? (request: LaneRequest, status: number, start: number): void => logAccess(request, status, start, true)
      : undefined;
    server.on('connection', (socket: Socket) => {
      const lane = new RawLane(socket, {
        upstream: address,
        admit,
        serve,
        serveBodyMax: Math.min(SERVE_BODY_MAX, limit),
        pipeline: pipelineConnection,
        ...(onResponse === undefined ? {} : { onResponse }),
        keepAliveMs,
        unreachable: (err) =>
          rawError(
            coreError('DOCKHAND_UPSTREAM_UNREACHABLE', `cannot reach the Docker engine: ${err.message}`, err),
            upstream.identity,
          ),
        handOff: (client, readAhead) => {
          lanes.delete(lane);
          if (readAhead.length > 0) client.unshift(readAhead);
          httpConnection.call(server, client);
          client.resume();
        },
      });
      lanes.add(lane);
      socket.once('close', () => lanes.delete(lane));
    });
    // one coarse timer ends the lane connections idle for longer than keepAliveMs (0: never, as for node:http),
    // and the drains of a body after an answer that closes, after DISCARD_MAX_MS whatever keepAliveMs is
    laneSweep = setInterval(
      () => {
        const now = performance.now();
        for (const lane of lanes) lane.expireIdle(now);
      },
      keepAliveMs > 0 ? Math.min(1000, keepAliveMs / 4) : 1000,
    ).unref();
  }
  server.on('request', (req, res) => handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => handleUpgrade(req, socket as Socket, head));
  server.on('clientError', (err, socket) => {
    // bytes that do not parse behind a body the proxy dropped after answering: its answer is the connection's
    // last, and a 400 after it would be one nobody asked for (found by review, stop 28)
    if (closingAfterBody.has(socket as Socket)) socket.destroy();
    else if (socket.writable)
      socket.end(
        rawError(coreError('DOCKHAND_BAD_REQUEST', `bad request: ${err.message}`), upstream.identity),
      );
    else socket.destroy();
  });

  function forward(ctx: Context): Promise<void> {
    return new Promise((resolve, reject) => {
      const body = ctx.request.forwardBody();
      const replaced = ctx.request.changed;
      const headers = ctx.request.headers.forwardable(replaced);
      if (replaced) headers.push('Content-Length', String(body.buffer?.length ?? 0));
      let response: ProxyResponse | undefined;
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {},
        onResponseStart(controller, status) {
          if (status < 200) return;
          const fields = new HeaderList(rawToStrings(controller.rawHeaders as Buffer[]));
          upstream.identity.notice((name) => fields.get(name));
          response = new ProxyResponse(status, fields, { flow: controller, limit });
          ctx.response = response;
          (ctx.state as { [kForwarded]?: ProxyResponse })[kForwarded] = response;
          resolve();
        },
        onResponseData(_controller, chunk) {
          response!.push(chunk);
        },
        onResponseEnd() {
          response!.end();
        },
        onResponseError(_controller, err) {
          if (response) response.fail(err);
          else
            reject(
              coreError(
                'DOCKHAND_UPSTREAM_UNREACHABLE',
                `cannot reach the Docker engine: ${err.message}`,
                err,
              ),
            );
        },
        onRequestUpgrade(controller, status, _headers, socket) {
          response = new ProxyResponse(
            status,
            new HeaderList(rawToStrings(controller.rawHeaders as Buffer[])),
            {
              limit,
              hijacked: true,
            },
          );
          ctx.response = response;
          (ctx.state as { [kSocket]?: Duplex })[kSocket] = socket;
          resolve();
        },
      };
      pool.dispatch(
        {
          method: ctx.method as Dispatcher.HttpMethod,
          path: ctx.target(),
          headers,
          // an upload as an iterator that leaves it whole when undici stops (the engine answered and closed before
          // it read it all): the rest is then read and dropped after the answer (writeResponse), where undici
          // destroyed it and the client, still sending, hung (found by review, stop 28)
          body: body.buffer ?? (body.stream ? keepWhole(body.stream) : null),
          upgrade: ctx.upgrade ?? null,
        },
        handler,
      );
    });
  }

  /**
   * Forwards a request the byte lane serves over the lane's own engine connection; a body a middleware turned
   * back into a stream goes through undici instead.
   */
  function forwardOnLane(ctx: Context, reply: LaneReply): Promise<void> {
    const body = ctx.request.forwardBody();
    if (body.stream !== undefined) return forward(ctx);
    // the length is always the body's own: a Content-Length a middleware changed without the body (or a body it
    // took and never gave back) must not let the engine read part of one request as the next
    const length = body.buffer?.length ?? 0;
    const sent = ctx.request.headers.get('content-length') !== undefined;
    const fields = ctx.request.headers.forwardable(true);
    if (length > 0 || sent || ctx.request.changed) fields.push('Content-Length', String(length));
    const head = requestHead(ctx.method, ctx.target(), fields);
    return reply.forward(ctx.method, head, body.buffer, limit).then((response) => {
      upstream.identity.notice((name) => response.headers.get(name));
      ctx.response = response;
    });
  }

  /** The context of one request, however it arrived (node:http, or read whole by the byte lane). */
  function newContext(
    method: string,
    target: { rawPath: string; query: string; resolved: ResolvedPath },
    rawHeaders: string[],
    body: IncomingMessage | Buffer | undefined,
    upgrade?: string,
  ): Context {
    return new Context({
      id: String(++nextId),
      method,
      resolved: target.resolved,
      rawPath: target.rawPath,
      request: new ProxyRequest(method, target.query, new HeaderList(rawHeaders), body, limit),
      upstream,
      logger,
      limit,
      ...(upgrade === undefined ? {} : { upgrade }),
    });
  }

  function makeContext(
    req: IncomingMessage,
    body: IncomingMessage | Buffer | undefined,
    upgrade?: string,
  ): Context {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const rawPath = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const target = {
      rawPath,
      query: q === -1 ? '' : url.slice(q + 1),
      resolved: resolvePath(method, rawPath),
    };
    if (!readableQuery(target.query))
      throw coreError(
        'DOCKHAND_BAD_REQUEST',
        `the query of ${rawPath} holds a ';', a '?' first, a malformed escape or bytes that are not UTF-8, which the engine reads otherwise`,
      );
    return newContext(method, target, req.rawHeaders.slice(), body, upgrade);
  }

  /**
   * Connections whose request was refused before its body was read: they close once that body has arrived, and no
   * request after it on them is run (Go's server reads none either). `node:http` parses what follows the body it
   * read and dropped, and a request sent right behind it ran, its answer lost with the connection (review, stop 26).
   */
  const closingAfterBody = new WeakSet<Socket>();

  function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    if (closingAfterBody.has(req.socket)) {
      req.resume();
      return;
    }
    const start = accessLog ? performance.now() : 0;
    let ctx: Context;
    try {
      const hasBody =
        req.headers['transfer-encoding'] !== undefined ||
        (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
      ctx = makeContext(req, hasBody ? req : undefined);
    } catch (err) {
      sendError(res, err, undefined);
      if (accessLog) logAccess(rawFields(req), res.statusCode, start);
      return;
    }
    pipeline(ctx, () => forward(ctx))
      .then(
        () => writeResponse(ctx, req, res),
        (err) => sendError(res, err, ctx),
      )
      .finally(() => {
        if (accessLog) logAccess(ctx, res.statusCode, start);
      });
  }

  function writeResponse(ctx: Context, req: IncomingMessage, res: ServerResponse): void {
    const r = ctx.response;
    if (!r) {
      sendError(res, coreError('DOCKHAND_INTERNAL', 'the pipeline produced no response'), ctx);
      return;
    }
    const headers = r.headers.forwardable(r.reframed);
    framedAsTheEngine(res);
    const noBody = req.method === 'HEAD' || NO_BODY_STATUS.has(r.status);
    // (an answer not sent stops: a stream of the pipeline's own, or an engine answer a middleware replaced, left
    // streaming into undici before: review 28d; a stream of the pipeline's own whose body is not sent, too)
    stopUnsent(ctx, r);
    if (noBody) ctx.stopStreams(undefined);
    const complete = noBody ? Buffer.alloc(0) : r.completeBody();
    // a whole answer to a request whose body is not all read: of the pipeline's own (a build refused inside its
    // stream), or the engine's, which answered before it read the body (a `PUT .../archive` to a path that does
    // not exist): the rest is read and dropped after the answer, bounded, and the connection closes, as for a
    // refusal and as the engine's own server does (left unread, a client that sends its whole body before it
    // reads, docker-py's `put_archive`, hung: found by reviews, stops 27 and 28)
    if (!req.complete && complete !== undefined) {
      // (sized: the answer is whole before the rest of the body is read)
      if (!noBody && (r.reframed || r.headers.get('Content-Length') === undefined))
        headers.push('Content-Length', String(complete.length));
      answerBeforeBody(res, r.status, headers, complete);
      return;
    }
    if (noBody) {
      res.writeHead(r.status, headers);
      res.end();
      return;
    }
    if (complete) {
      // sized when re-framed, or when the answer is the pipeline's own (it has no framing from the engine), as the
      // lane and the engine's server write a whole answer
      if (
        r.reframed ||
        (r.headers.get('Content-Length') === undefined && r.headers.get('Transfer-Encoding') === undefined)
      )
        headers.push('Content-Length', String(complete.length));
      res.writeHead(r.status, headers);
      res.end(complete);
      return;
    }
    res.writeHead(r.status, headers);
    res.flushHeaders();
    // the engine's answer, or a stream of the pipeline's own, stops when its client goes away
    const gone = () => r.abandon(new Error('client went away'));
    if (res.destroyed) gone();
    else
      res.on('close', () => {
        if (!res.writableFinished) gone();
      });
    r.pipeTo(responseSink(res));
  }

  function sendError(res: ServerResponse, err: unknown, ctx: Context | undefined): void {
    logError(err, ctx);
    if (ctx !== undefined) stopUnsent(ctx, undefined);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const { status, fields: headers, body: buf } = errorAnswer(err, upstream.identity);
    framedAsTheEngine(res);
    if (res.req.complete) {
      res.writeHead(status, headers);
      res.end(buf);
      return;
    }
    answerBeforeBody(res, status, headers, buf);
  }

  /**
   * Writes a whole answer to a request whose body was left unread (refused before or while reading it, or answered
   * by the pipeline itself): that body is not parsed for a next request, and the connection closes after the
   * answer, once the rest of the body is read and dropped (or the reading gives up).
   */
  function answerBeforeBody(res: ServerResponse, status: number, headers: string[], body: Buffer): void {
    headers.push('Connection', 'close');
    // (the request's socket once a middleware or undici is done with the request: the response's is the same)
    const socket = res.socket ?? res.req.socket;
    if (socket !== null) closingAfterBody.add(socket);
    res.writeHead(status, headers);
    res.write(body);
    void discardRest(res.req, DISCARD_MAX_BYTES, DISCARD_MAX_MS).then(() => res.end());
  }

  function logError(err: unknown, ctx: Context | undefined): void {
    const log = ctx?.log ?? logger;
    if (DockhandError.is(err)) {
      log.warn({ code: err.code, status: err.status, path: ctx?.path }, err.message);
    } else {
      log.error({ err }, 'middleware failed');
    }
  }

  function handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (closingAfterBody.has(socket)) {
      socket.destroy();
      return;
    }
    const start = accessLog ? performance.now() : 0;
    const protocol = String(req.headers.upgrade ?? '').toLowerCase();
    let made: Context | undefined;
    readUpgradeBody(req, socket, head)
      .then(({ body, rest, chunked }) => {
        const ctx = makeContext(req, body.length > 0 ? body : undefined, protocol);
        made = ctx;
        // a route whose engine handler reads the body (exec start) would read a chunked one the proxy has not
        if (chunked && !BODILESS_HIJACKS.has(ctx.operation ?? ''))
          throw coreError('DOCKHAND_BAD_REQUEST', 'a chunked body on a connection upgrade is not supported');
        if (!ctx.route?.hijack?.includes(protocol)) {
          throw coreError(
            'DOCKHAND_UPGRADE_REFUSED',
            ctx.route
              ? `${ctx.operation} does not take a connection upgrade to '${protocol}'`
              : `connection upgrade refused on an unknown route: ${ctx.path}`,
          );
        }
        return pipeline(ctx, () => forward(ctx)).then(() => {
          finishUpgrade(ctx, socket, rest);
          if (accessLog) logAccess(ctx, ctx.response!.status, start);
        });
      })
      .catch((err) => {
        logError(err, undefined);
        if (made !== undefined) stopUnsent(made, undefined);
        socket.end(rawError(err, upstream.identity));
        if (accessLog) logAccess(rawFields(req), toErrorResponse(err).status, start);
      });
  }

  function finishUpgrade(ctx: Context, client: Socket, rest: Buffer): void {
    const r = ctx.response!;
    stopUnsent(ctx, r);
    const up = (ctx.state as { [kSocket]?: Duplex })[kSocket];
    if (!r.hijacked || !up) {
      // the engine answered without switching protocols (an error, or an old-style raw stream)
      const headers = r.headers.forwardable(true);
      const complete = r.completeBody();
      if (complete) {
        headers.push('Content-Length', String(complete.length), 'Connection', 'close');
        client.end(Buffer.concat([Buffer.from(responseHead(r.status, headers), 'latin1'), complete]));
        return;
      }
      headers.push('Connection', 'close');
      client.write(responseHead(r.status, headers), 'latin1');
      r.pipeTo(responseSink(client));
      return;
    }
    client.write(
      responseHead(101, r.headers.raw, ctx.upgrade === 'tcp' ? 'UPGRADED' : 'Switching Protocols'),
      'latin1',
    );
    if (ctx.hijackHandler) {
      hijacked.add(client).add(up);
      const forget = () => {
        hijacked.delete(client);
        hijacked.delete(up);
      };
      client.on('close', forget);
      up.on('close', forget);
      try {
        ctx.hijackHandler(client, up, rest);
      } catch (err) {
        logError(err, ctx);
        client.destroy();
        up.destroy();
      }
      return;
    }
    if (rest.length > 0) up.write(rest);
    splice(client, up);
  }

  function splice(a: Socket, b: Duplex): void {
    hijacked.add(a).add(b);
    const done = () => {
      hijacked.delete(a);
      hijacked.delete(b);
    };
    a.on('close', () => {
      b.destroy();
      done();
    });
    b.on('close', () => {
      a.destroy();
      done();
    });
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
    a.pipe(b);
    b.pipe(a);
  }

  return {
    upstream,
    server,
    async listen(target) {
      const t = normaliseTarget(target);
      // the engine's identity headers, for the proxy's own answers from the first one (best effort, bounded)
      await upstream.learnIdentity();
      if ('path' in t) {
        await removeStaleSocket(t.path);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(t.path, () => {
            server.off('error', reject);
            resolve();
          });
        });
        if (t.mode !== undefined) await chmod(t.path, t.mode);
        logger.info({ listen: t.path }, 'proxy listening');
        return t.path;
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(t.port, t.host ?? '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = server.address() as AddressInfo;
      logger.info({ listen: `${addr.address}:${addr.port}` }, 'proxy listening');
      return addr;
    },
    async close() {
      const listening = server.listening;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        server.closeAllConnections();
        for (const s of hijacked) s.destroy();
        for (const lane of lanes) lane.destroy();
      }, grace);
      for (const s of hijacked) s.end();
      for (const lane of lanes) lane.shutdown();
      if (!listening) clearTimeout(timer);
      await closed;
      clearTimeout(timer);
      clearInterval(laneSweep);
      // client requests are done; what is left are middleware streams (event watchers): cut them
      await pool.destroy();
    },
    async [Symbol.asyncDispose]() {
      await this.close();
    },
  };
}

/** The engine's response a request forwarded with undici got, whether or not it is the one written. */
const kForwarded = Symbol('dockhand.forwarded');
const kSocket = Symbol('dockhand.upgradeSocket');

function responseSink(out: {
  write(c: Buffer): boolean;
  end(): void;
  destroy(e?: Error): void;
  on(e: 'drain', f: () => void): unknown;
}): BodySink {
  return {
    write: (c) => out.write(c),
    end: () => out.end(),
    destroy: (err) => out.destroy(err),
    onDrain: (fn) => {
      out.on('drain', fn);
    },
  };
}

/**
 * node:http writes `Connection: keep-alive` and `Keep-Alive` on every answer after which it keeps the connection;
 * the engine's Go server writes neither to an HTTP/1.1 request (it writes `Connection: close` when it closes, as
 * node:http still does, and `Connection: keep-alive` to an HTTP/1.0 request that asked for it, as node:http does).
 */
function framedAsTheEngine(res: ServerResponse): void {
  if (res.shouldKeepAlive && res.req.httpVersionMinor >= 1) res.removeHeader('Connection');
}

function rawError(err: unknown, identity: EngineIdentity): Buffer {
  return errorResponse(err, true, identity).bytes;
}

/**
 * Hijacking routes whose handler in the engine takes the connection over without reading a request body: on them,
 * a `Transfer-Encoding: chunked` announces no body the engine would read, and the bytes after the head are the
 * upgraded stream, as the engine reads them. docker-modem sends that header on every hijack without a body
 * (dockerode's and testcontainers' BuildKit `/session`: found by review, stop 25; testcontainers crashed on the 400).
 */
const BODILESS_HIJACKS: ReadonlySet<string> = new Set(['ContainerAttach', 'Session', 'Grpc']);

/**
 * Reads the Content-Length body of an upgrade request from what came with the head and the socket: the body and the
 * bytes after it; `chunked` when it announced a chunked body, which is left to the route (nothing is read).
 */
function readUpgradeBody(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): Promise<{ body: Buffer; rest: Buffer; chunked?: true }> {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    // read by the route, once known: nothing is read here
    if (te.toLowerCase() === 'chunked' && req.headers['content-length'] === undefined)
      return Promise.resolve({ body: Buffer.alloc(0), rest: head, chunked: true });
    return Promise.reject(
      coreError('DOCKHAND_BAD_REQUEST', 'a chunked body on a connection upgrade is not supported'),
    );
  }
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isSafeInteger(length) || length < 0 || length > 1024 * 1024) {
    return Promise.reject(
      coreError('DOCKHAND_BAD_REQUEST', 'invalid Content-Length on a connection upgrade'),
    );
  }
  if (head.length >= length)
    return Promise.resolve({ body: head.subarray(0, length), rest: head.subarray(length) });
  return new Promise((resolve, reject) => {
    let buf = head;
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length >= length) {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
        resolve({ body: buf.subarray(0, length), rest: buf.subarray(length) });
      }
    };
    const onEnd = () =>
      reject(coreError('DOCKHAND_BAD_REQUEST', 'connection closed inside the request body'));
    socket.on('data', onData);
    socket.on('end', onEnd);
  });
}

function normaliseTarget(
  target: ListenTarget,
): { path: string; mode?: number } | { host?: string; port: number } {
  if (typeof target !== 'string') return target;
  if (target.startsWith('unix://')) return { path: target.slice('unix://'.length) };
  if (target.startsWith('/') || target.startsWith('.')) return { path: target };
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[^:]+)?:(\d+)$/.exec(target);
  if (m) return { host: m[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1', port: Number(m[2]) };
  throw new TypeError(`cannot listen on '${target}': use a socket path or host:port`);
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (st.isSocket()) await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * An upload as undici reads it without owning it: undici takes async iterables as bodies (its `dispatch` types name
 * streams only) and returns the iterator when it stops, which leaves the stream whole and paused.
 */
function keepWhole(stream: Readable): Readable {
  return stream.iterator({ destroyOnReturn: false }) as unknown as Readable;
}

/**
 * Stops every answer of the request that is not the one written (`written`), which nobody reads: the streams of the
 * pipeline's own ({@link Context.stopStreams}) and the engine's answer (its undici request is aborted).
 */
function stopUnsent(ctx: Context, written: ProxyResponse | undefined, reason?: Error): void {
  ctx.stopStreams(written);
  const forwarded = (ctx.state as { [kForwarded]?: ProxyResponse })[kForwarded];
  // the reason is made only when there is one to stop: an Error's stack costs microseconds on every request
  if (forwarded !== undefined && forwarded !== written)
    forwarded.abandon(reason ?? new Error('the answer sent was not this one'));
}
