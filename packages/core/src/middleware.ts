import type { Context } from './context.ts';
import { type OperationId, routes } from './routes.ts';

/**
 * A middleware: works on the request before `await next()`, on the response after it. Not calling `next()`
 * answers without the engine (use {@link Context.respond}); throwing a {@link DockhandError} refuses.
 *
 * @example
 * ```ts
 * const timing: Middleware = async (ctx, next) => {
 *   const start = performance.now();
 *   await next();
 *   ctx.log.info({ ms: performance.now() - start }, 'done');
 * };
 * ```
 */
export type Middleware = (ctx: Context, next: () => Promise<void>) => Promise<void>;

const kRoutes = Symbol.for('dockhand.routes');
const kUntouched = Symbol.for('dockhand.untouched');

/**
 * What the proxy knows of a request before deciding whether the pipeline must see it: the request line and the
 * framing, nothing read from the body. See {@link untouchedWhen}.
 */
export interface RequestSummary {
  /** The method, e.g. `GET`. */
  readonly method: string;
  /** The route, or `undefined` for a path outside the Engine API. */
  readonly operation: OperationId | undefined;
  /** The path parameters, percent-decoded (`{ id: '4f1c…' }`). */
  readonly params: Readonly<Record<string, string>>;
  /** The API version the path names (`1.41` for `/v1.41/...`), or `undefined`. */
  readonly apiVersion: string | undefined;
  /** The query string, parsed. */
  readonly query: URLSearchParams;
  /** The body length in bytes (0 when there is none). */
  readonly bodyLength: number;
  /** The `Content-Type` header, when sent. */
  readonly contentType: string | undefined;
}

/** Decides, from a {@link RequestSummary} alone, that a middleware would leave a request and its response as they are. */
export type UntouchedTest = (request: RequestSummary) => boolean;

/** Whether a request is on none of the given routes: what a middleware built with {@link on} leaves untouched. */
function offRoutes(req: RequestSummary, ops: ReadonlySet<OperationId>): boolean {
  return req.operation === undefined || !ops.has(req.operation);
}

function scoped(mw: Middleware, ops: ReadonlySet<OperationId>): Middleware {
  Object.defineProperty(mw, kRoutes, { value: ops });
  return mw;
}

/**
 * The routes a middleware can act on, as {@link on} declared them (through {@link compose} and {@link when}),
 * or `undefined` when it may act on any request. Requests on the other routes are left untouched (see
 * {@link untouchedTest}), so the proxy passes them through as bytes, without building a context for them.
 *
 * @param middleware - a middleware
 * @returns its operationIds, or `undefined` for "every request"
 * @example
 * ```ts
 * routesOf(on('ContainerCreate', mw)); // Set { 'ContainerCreate' }
 * routesOf(logRequests()); // undefined
 * ```
 */
export function routesOf(middleware: Middleware): ReadonlySet<OperationId> | undefined {
  return (middleware as { [kRoutes]?: ReadonlySet<OperationId> })[kRoutes];
}

/**
 * Declares when a middleware leaves a request untouched: for requests where `test` holds, running `middleware`
 * would only call `next()` and change neither the request nor the response. The proxy forwards such requests as
 * bytes on its byte lane, without building a context, when every middleware of the pipeline says so (through
 * {@link compose}, {@link on} and {@link when}). A test must be exact: a `true` where the middleware would act
 * lets the request past it. Without a declaration, a middleware is taken to act on every request its
 * {@link on} routes name (or on every request); `test` opens requests on those routes. Wrapping a middleware that
 * already carries a declaration (an `untouchedWhen`, or a `compose()` of parts that all have one) can only narrow
 * it: both must hold. A test that throws counts as `false`.
 *
 * @param test - true when `middleware` would leave this request and its response unchanged
 * @param middleware - the middleware
 * @returns the same middleware, carrying the declaration
 * @example
 * ```ts
 * // a cache-warm ownership check: requests naming a known-owned full id need no pipeline
 * untouchedWhen((req) => owned.has(req.params.id ?? ''), on('ContainerInspect', checkOwner));
 * ```
 */
export function untouchedWhen(test: UntouchedTest, middleware: Middleware): Middleware {
  if (typeof test !== 'function') throw new TypeError('untouchedWhen(): test is not a function');
  if (typeof middleware !== 'function') throw new TypeError('untouchedWhen(): middleware is not a function');
  const declared: Middleware = (ctx, next) => middleware(ctx, next);
  const routes = routesOf(middleware);
  if (routes !== undefined) Object.defineProperty(declared, kRoutes, { value: routes });
  const inner = (middleware as { [kUntouched]?: UntouchedTest })[kUntouched];
  if (inner !== undefined) return marked(declared, (req) => inner(req) && test(req));
  if (routes === undefined) return marked(declared, test);
  return marked(declared, (req) => offRoutes(req, routes) || test(req));
}

/**
 * The test by which the proxy decides that a middleware leaves a request untouched: its {@link untouchedWhen}
 * declaration, else "the request is not on one of its {@link on} routes", else `undefined` (it may act on any
 * request, so every request goes through the pipeline).
 *
 * @param middleware - a middleware
 * @returns the test, or `undefined`
 * @example
 * ```ts
 * untouchedTest(on('ContainerCreate', mw))?.(summary); // true unless summary.operation is ContainerCreate
 * untouchedTest(logRequests()); // undefined
 * ```
 */
export function untouchedTest(middleware: Middleware): UntouchedTest | undefined {
  const declared = (middleware as { [kUntouched]?: UntouchedTest })[kUntouched];
  if (declared !== undefined) return declared;
  const ops = routesOf(middleware);
  return ops === undefined ? undefined : (req) => offRoutes(req, ops);
}

function marked(mw: Middleware, test: UntouchedTest): Middleware {
  Object.defineProperty(mw, kUntouched, { value: test });
  return mw;
}

/**
 * Composes middleware into one, onion-style (koa-compose). The result is checked when it is built: a
 * non-function throws `TypeError`; at run time a second `next()` call rejects.
 *
 * @param middleware - the middleware, outermost first
 * @returns one middleware running them in order
 * @example
 * ```ts
 * const pipeline = compose([logRequests(), on('ContainerCreate', stampLabels)]);
 * ```
 */
export function compose(middleware: readonly Middleware[]): Middleware {
  if (!Array.isArray(middleware)) throw new TypeError('compose() takes an array of middleware');
  for (const [i, mw] of middleware.entries()) {
    if (typeof mw !== 'function') throw new TypeError(`middleware #${i} is not a function`);
  }
  const list = [...middleware];
  if (list.length === 0) return scoped((_ctx, next) => next(), new Set());
  if (list.length === 1) return list[0]!;
  const sets = list.map(routesOf);
  // the middleware that can act on each route, in order: one that declared its routes (through on()) only calls
  // next() on the others, so a request skips it instead of going through it (one chain per route, made once)
  const chains = new Map<OperationId | undefined, readonly Middleware[]>();
  const chainOf = (op: OperationId | undefined): readonly Middleware[] => {
    let chain = chains.get(op);
    if (chain === undefined) {
      chain = list.filter((_, i) => sets[i] === undefined || (op !== undefined && sets[i]!.has(op)));
      chains.set(op, chain);
    }
    return chain;
  };
  const composed: Middleware = (ctx, next) => {
    const chain = chainOf(ctx.operation);
    let last = -1;
    const dispatch = (i: number): Promise<void> => {
      if (i <= last) return Promise.reject(new Error('next() called more than once'));
      last = i;
      const fn = i === chain.length ? next : chain[i];
      if (fn === undefined) return Promise.resolve();
      try {
        return Promise.resolve(fn(ctx, () => dispatch(i + 1)));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return dispatch(0);
  };
  if (sets.every((s) => s !== undefined)) scoped(composed, new Set(sets.flatMap((s) => [...s])));
  const tests = list.map(untouchedTest);
  if (tests.every((t) => t !== undefined)) {
    marked(composed, (req) => {
      for (const t of tests) if (!t(req)) return false;
      return true;
    });
  }
  return composed;
}

/** A route selector for {@link on}: an operationId (`'ContainerCreate'`) or `'METHOD /path/template'`. */
export type RouteSelector = OperationId | `${'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD'} /${string}`;

function toOperation(selector: string): OperationId {
  if (Object.hasOwn(routes, selector)) return selector as OperationId;
  const space = selector.indexOf(' ');
  if (space > 0) {
    const method = selector.slice(0, space);
    const path = selector
      .slice(space + 1)
      .replace(/\{(\w+)\}/g, ':$1')
      .replace(/\/$/, '');
    for (const [op, spec] of Object.entries(routes)) {
      if (spec.method === method && spec.path.replace(/\*/g, ':') === path) return op as OperationId;
    }
  }
  throw new TypeError(`on(): unknown Engine API route '${selector}'`);
}

/**
 * Runs a middleware only on the given routes. Unknown route names throw `TypeError` when the pipeline is built.
 *
 * @param selector - one route or a list: operationIds or `'METHOD /path'` (either `{id}` or `:id` style)
 * @param middleware - what to run there
 * @returns the scoped middleware
 * @example
 * ```ts
 * on(['ContainerCreate', 'POST /volumes/create'], async (ctx, next) => { ... await next(); });
 * ```
 */
export function on(selector: RouteSelector | readonly RouteSelector[], middleware: Middleware): Middleware {
  if (typeof middleware !== 'function') throw new TypeError('on(): middleware is not a function');
  const ops = new Set((Array.isArray(selector) ? selector : [selector]).map(toOperation));
  const scopedMw = scoped(
    (ctx, next) => (ctx.operation !== undefined && ops.has(ctx.operation) ? middleware(ctx, next) : next()),
    ops,
  );
  const inner = untouchedTest(middleware);
  return inner === undefined ? scopedMw : marked(scopedMw, (req) => offRoutes(req, ops) || inner(req));
}

/**
 * Runs a middleware only when a predicate holds for the request. The predicate is not asked on the routes the
 * middleware's own {@link on} leaves out: a pipeline passes such requests by it, as the byte lane does.
 *
 * @param predicate - decides per request
 * @param middleware - what to run when it returns true
 * @returns the conditional middleware
 * @example
 * ```ts
 * when((ctx) => ctx.operation === undefined, async () => { throw new DockhandError('NO', 403, 'unknown route'); });
 * ```
 */
export function when(predicate: (ctx: Context) => boolean, middleware: Middleware): Middleware {
  if (typeof predicate !== 'function') throw new TypeError('when(): predicate is not a function');
  if (typeof middleware !== 'function') throw new TypeError('when(): middleware is not a function');
  const conditional: Middleware = (ctx, next) => (predicate(ctx) ? middleware(ctx, next) : next());
  const inner = routesOf(middleware);
  const test = untouchedTest(middleware);
  if (inner !== undefined) scoped(conditional, inner);
  return test === undefined ? conditional : marked(conditional, test);
}
