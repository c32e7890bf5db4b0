import type { Middleware } from './middleware.ts';

/**
 * Logs one line per request at `info`: method, path, operation, status and duration.
 *
 * @returns the middleware
 * @example
 * ```ts
 * createProxy({ upstream, middleware: [logRequests()], logger: pino() });
 * ```
 */
export function logRequests(): Middleware {
  return async (ctx, next) => {
    const start = performance.now();
    try {
      await next();
    } finally {
      ctx.log.info(
        {
          path: ctx.path,
          status: ctx.response?.status,
          ms: Math.round((performance.now() - start) * 10) / 10,
        },
        'request',
      );
    }
  };
}
