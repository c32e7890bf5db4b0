import type { Context } from '@dockhand/core';
import type { MutatorErrorCode } from './errors.ts';

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
export function answerBuildRefused(ctx: Context, code: MutatorErrorCode, message: string): void {
  ctx.log.warn({ code, path: ctx.path }, message);
  ctx.respondLines(200, [{ errorDetail: { message }, error: message }]);
}
