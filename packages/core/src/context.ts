import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { HeaderList } from './headers.ts';
import { jsonBody } from './json-body.ts';
import { type MessageProducer, MessagePump } from './message-pump.ts';
import type { ProxyRequest } from './request.ts';
import { ProxyResponse } from './response.ts';
import type { ResolvedPath } from './router.ts';
import { buildPath, encodePath, withVersion } from './router.ts';
import type { OperationId, RouteSpec } from './routes.ts';
import type { Upstream } from './upstream.ts';

/** Carries a hijacked connection: see {@link Context.onHijack}. */
export type HijackHandler = (client: Duplex, engine: Duplex, early: Buffer) => void;

/**
 * Everything a middleware sees of one request: the resolved route, the request, after `await next()` the
 * response, the engine for its own calls, a per-request logger and `state` to share with other middleware.
 *
 * @example
 * ```ts
 * const mw: Middleware = async (ctx, next) => {
 *   if (ctx.operation === 'ContainerInspect') ctx.log.info({ id: ctx.params.id }, 'inspect');
 *   await next();
 * };
 * ```
 */
export class Context {
  /** A request id, unique within the proxy. */
  readonly id: string;
  /** The HTTP method. */
  readonly method: string;
  /** The operationId, or `undefined` for a path that is no Engine API route. */
  readonly operation: OperationId | undefined;
  /** The route's table entry. */
  readonly route: RouteSpec | undefined;
  /** The path parameters. Change one (e.g. a name to a full id) and the changed path is forwarded. */
  readonly params: Record<string, string>;
  /**
   * The API version of the `/v1.xx` prefix, if any. A middleware may raise it (e.g. to use a field the client's
   * version lacks); the changed prefix is forwarded.
   */
  apiVersion: string | undefined;
  /** The canonical path, without the version prefix. */
  readonly path: string;
  /** The request. */
  readonly request: ProxyRequest;
  /** The response: set by the engine when `next()` resolves, or by {@link Context.respond}. */
  response: ProxyResponse | undefined;
  /** The engine, for a middleware's own calls. */
  readonly upstream: Upstream;
  /** The `Upgrade` protocol asked for (`tcp`, `h2c`, `websocket`), when the client wants to hijack. */
  readonly upgrade: string | undefined;
  /** Free-form state shared between middleware for this request. */
  readonly state: Record<string, unknown> = {};
  /** @internal the handler that takes over a hijacked connection, if a middleware set one */
  hijackHandler: HijackHandler | undefined;
  #logger: Logger;
  #log: Logger | undefined;
  #rawPath: string;
  #originalParams: Record<string, string>;
  #limit: number;
  #pumps: MessagePump[] = [];

  /**
   * @param init - the request's parts
   * @internal
   */
  constructor(init: {
    id: string;
    method: string;
    resolved: ResolvedPath;
    rawPath: string;
    request: ProxyRequest;
    upstream: Upstream;
    logger: Logger;
    upgrade?: string;
    limit: number;
  }) {
    this.id = init.id;
    this.method = init.method;
    this.operation = init.resolved.operation;
    this.route = init.resolved.route;
    this.params = init.resolved.params;
    this.#originalParams = { ...init.resolved.params };
    this.apiVersion = init.resolved.apiVersion;
    this.path = init.resolved.path;
    this.request = init.request;
    this.upstream = init.upstream;
    this.upgrade = init.upgrade;
    this.#logger = init.logger;
    this.#rawPath = init.rawPath;
    this.#limit = init.limit;
  }

  /** A child logger tagged with the request id, method and operation. */
  get log(): Logger {
    this.#log ??= this.#logger.child({
      reqId: this.id,
      method: this.method,
      operation: this.operation ?? null,
    });
    return this.#log;
  }

  /**
   * Takes over a hijacked connection (attach, exec, BuildKit `/session` and `/grpc`) instead of the default byte
   * splice: once the engine has switched protocols and the client has its `101`, the handler gets both sockets
   * and the bytes the client sent right behind its request. It must carry the traffic and close both sides.
   *
   * @param handler - called with the client side, the engine side and the early bytes
   * @example
   * ```ts
   * on('Grpc', async (ctx, next) => {
   *   ctx.onHijack((client, engine, early) => { engine.write(early); client.pipe(engine).pipe(client); });
   *   await next();
   * });
   * ```
   */
  onHijack(handler: HijackHandler): void {
    this.hijackHandler = handler;
  }

  /**
   * Answers the request without the engine; use it instead of calling `next()`.
   *
   * @param status - the HTTP status
   * @param body - a JSON value, or `undefined` for none (a `204`)
   */
  respond(status: number, body: unknown): void {
    this.response = new ProxyResponse(status, this.#ownHead(), {
      limit: this.#limit,
      body: body === undefined ? Buffer.alloc(0) : jsonBody(body),
    });
  }

  /**
   * Answers the request without the engine with a newline-delimited JSON stream, as the engine answers a build,
   * a pull or events: each message on a line of its own. Use it instead of calling `next()`, e.g. to report a
   * failure inside a `200` stream, where clients of such routes look for one (`errorDetail`).
   *
   * @param status - the HTTP status
   * @param messages - the JSON values, in order
   * @example
   * ```ts
   * ctx.respondLines(200, [{ errorDetail: { message: 'not here' }, error: 'not here' }]);
   * ```
   */
  respondLines(status: number, messages: readonly unknown[]): void {
    this.response = new ProxyResponse(status, this.#ownHead(), {
      limit: this.#limit,
      body: Buffer.from(messages.map((m) => `${JSON.stringify(m)}\n`).join('')),
    });
  }

  /**
   * Answers the request without the engine with a newline-delimited JSON stream the middleware produces as the
   * client reads it, as the engine streams events or stats: each message the producer yields goes on a line of its
   * own, and the next is asked for only once the client has taken what is waiting. The answer ends when the
   * producer returns; if it throws, the connection is cut, as when the engine's stream fails. When the client goes
   * away the producer's `signal` is aborted and its iterator returned. Use it instead of calling `next()`.
   *
   * The answer's `Content-Type` is `application/json`; change `ctx.response.headers` after this call for another.
   *
   * @param status - the HTTP status
   * @param produce - called once with an `AbortSignal`; returns the messages, e.g. an async generator
   * @example
   * ```ts
   * on('SystemEvents', async (ctx) => {
   *   ctx.respondStream(200, async function* (signal) {
   *     for (let i = 0; i < 3 && !signal.aborted; i++) {
   *       yield { status: 'tick', time: Math.floor(Date.now() / 1000) };
   *       await setTimeout(1000, undefined, { signal }).catch(() => {});
   *     }
   *   });
   * });
   * ```
   */
  respondStream(status: number, produce: MessageProducer): void {
    const pump = new MessagePump(produce);
    this.response = new ProxyResponse(status, this.#ownHead(), {
      limit: this.#limit,
      flow: pump,
    });
    this.#pumps.push(pump);
    pump.start(this.response);
  }

  /** The head of an answer of the pipeline's own: JSON, with the engine's identity headers in its order. */
  #ownHead(): HeaderList {
    return new HeaderList(this.upstream.identity.head(['Content-Type', 'application/json']));
  }

  /**
   * Stops every stream of the pipeline's own but the one the client is sent (`written`): one a middleware replaced,
   * or one left when the pipeline failed, is produced for nobody.
   *
   * @param written - the response being written to the client, if any
   * @internal
   */
  stopStreams(written: ProxyResponse | undefined): void {
    for (const pump of this.#pumps)
      if (pump.response !== written) pump.abort(new Error('the answer is not this stream'));
  }

  /**
   * The path and query forwarded to the engine: the canonical path, rebuilt if a parameter changed.
   * @internal
   */
  target(): string {
    let path = this.#rawPath;
    if (this.route && this.#paramsChanged()) path = buildPath(this.route, this.params, this.apiVersion);
    else if (path !== this.#canonicalWire()) path = encodePath(this.path, this.apiVersion);
    const search = this.request.search;
    return search === '' ? path : `${path}?${search}`;
  }

  #canonicalWire(): string {
    // the raw path is forwarded as is only when it already is the canonical form
    return withVersion(this.path, this.apiVersion);
  }

  #paramsChanged(): boolean {
    for (const key in this.params) if (this.params[key] !== this.#originalParams[key]) return true;
    return false;
  }
}
