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

function scoped(mw: Middleware, ops: ReadonlySet<OperationId>): Middleware {
  Object.defineProperty(mw, kRoutes, { value: ops });
  return mw;
}

/**
 * The routes a middleware can act on, as {@link on} declared them (through {@link compose} and {@link when}),
 * or `undefined` when it may act on any request. The proxy passes requests on the other routes through as bytes,
 * without building a context for them.
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
  const composed: Middleware = (ctx, next) => {
    let last = -1;
    const dispatch = (i: number): Promise<void> => {
      if (i <= last) return Promise.reject(new Error('next() called more than once'));
      last = i;
      const fn = i === list.length ? next : list[i];
      if (fn === undefined) return Promise.resolve();
      try {
        return Promise.resolve(fn(ctx, () => dispatch(i + 1)));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return dispatch(0);
  };
  const sets = list.map(routesOf);
  if (sets.every((s) => s !== undefined)) scoped(composed, new Set(sets.flatMap((s) => [...s])));
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
  return scoped(
    (ctx, next) => (ctx.operation !== undefined && ops.has(ctx.operation) ? middleware(ctx, next) : next()),
    ops,
  );
}

/**
 * Runs a middleware only when a predicate holds for the request.
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
  return inner === undefined ? conditional : scoped(conditional, inner);
}
