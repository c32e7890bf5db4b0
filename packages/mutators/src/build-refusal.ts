import { type Context, DockhandError, type Middleware, on } from '@dockhand/core';

/**
 * Answers a refused `POST /build` inside a `200` stream, as the engine reports a build that failed once it has
 * started: docker-modem (under dockerode and testcontainers) takes any other status of a build for an error it
 * throws where nothing can catch it, and the client's process dies (found by review, stop 25). The docker CLI
 * prints the message and exits 1, as for any failed build. The refusal is logged at `warn` with its code.
 *
 * @param ctx - the `ImageBuild` request's context
 * @param code - the refusal's code, for the log
 * @param message - what the client is told
 * @example
 * ```ts
 * answerBuildRefused(ctx, 'DOCKHAND_ROUTE_DENIED', 'classic builds are turned off here');
 * ```
 * @internal
 */
export function answerBuildRefused(ctx: Context, code: string, message: string): void {
  ctx.log.warn({ code, path: ctx.path }, message);
  ctx.respondLines(200, [{ errorDetail: { message }, error: message }]);
}

/**
 * Answers every refusal of a `POST /build` by the middleware after it inside a `200` stream of one message
 * (`{"errorDetail":{"message"},"error"}`, logged at `warn` with the refusal's code), as the engine reports a build
 * that fails on what its Dockerfile names (a missing image, a URL it cannot fetch): a refusal's own status made
 * docker-modem, under dockerode and testcontainers, throw where nothing could catch it, and
 * `GenericContainer.fromDockerfile()` of a Dockerfile with `ADD <url>` killed the attendee's test process (found in
 * stop 27). The docker CLI prints the message and exits 1 either way. Errors of 500 and above (`DOCKHAND_INTERNAL`,
 * an engine that cannot be reached) keep their status. Put it before the middleware that check builds;
 * {@link workshopTenant} does.
 *
 * @returns the middleware
 * @example
 * ```ts
 * createProxy({ upstream, middleware: [buildRefusalsInStream(), hostGuard(), stampLabels({ labels })] });
 * ```
 */
export function buildRefusalsInStream(): Middleware {
  return on('ImageBuild', async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!DockhandError.is(err) || ctx.response !== undefined || err.status >= 500) throw err;
      answerBuildRefused(ctx, err.code, err.message);
    }
  });
}
