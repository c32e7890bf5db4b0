import { type Middleware, on } from '@dockhand/core';
import { answerBuildRefused } from './build-refusal.ts';

/** What a client that asks for a classic build is told. */
const MESSAGE =
  'classic builds (DOCKER_BUILDKIT=0, or POST /build without version=2) are turned off here; build with BuildKit: docker build (docker buildx build) or docker compose build';

/**
 * Refuses every classic build: a `POST /build` that does not ask for BuildKit (`version=2`). BuildKit builds
 * through `/grpc` and `/session`, the docker CLI's default, are untouched (`buildkitGuard` checks them).
 *
 * The classic builder's Dockerfile is checked by reading it as the engine's parser does, and every difference
 * found between the two readings so far was a way across tenants (docs/security.md): an operator who needs no
 * classic builds turns them off. Clients that build only that way stop building: testcontainers'
 * `GenericContainer.fromDockerfile()` without `withBuildkit()`, dockerode's `buildImage`, docker-py's
 * `images.build`, and every build on an engine before API 1.44, where the preset refuses BuildKit.
 *
 * The refusal comes before the build context is read, inside a `200` stream as the engine reports a failed
 * build: docker-modem, under dockerode and testcontainers, crashes its process on any other status of a build.
 *
 * @returns the middleware
 * @example
 * ```ts
 * createProxy({ upstream, middleware: [refuseClassicBuilds(), workshopTenant({ ... })] });
 * // or: workshopTenant({ ..., classicBuilds: false })
 * ```
 */
export function refuseClassicBuilds(): Middleware {
  return on('ImageBuild', async (ctx, next) => {
    // the engine reads the first `version` (Go's Query().Get)
    if (ctx.request.query.get('version') === '2') {
      await next();
      return;
    }
    answerBuildRefused(ctx, 'DOCKHAND_ROUTE_DENIED', MESSAGE);
  });
}
