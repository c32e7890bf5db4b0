import { type Middleware, on } from '@dockhand/core';

/** Options of {@link limitClassicBuilds}. */
export interface LimitClassicBuildsOptions {
  /** How many classic builds run at once through this middleware; more wait for one to end. Default 4. */
  readonly concurrent?: number;
}

/**
 * Lets a bounded number of classic builds (`POST /build` without `version=2`) run at once; the others wait, their
 * contexts unread, until one ends. The checks of a classic build hold its whole context (up to 64 MiB) in the
 * proxy for as long as the build runs, so without a bound a tenant that starts many builds at once, or many whose
 * contexts stop arriving, makes its proxy hold gigabytes. A client that waits sees a build that has not started
 * yet: the engine's own builds wait likewise when it is busy. BuildKit builds (`version=2`, the docker CLI's
 * default) are not counted.
 *
 * Put it before anything that reads a classic build's context; the workshop preset does.
 *
 * @param options - how many at once
 * @returns the middleware
 * @throws TypeError when `concurrent` is not a positive integer
 * @example
 * ```ts
 * createProxy({ upstream, middleware: [limitClassicBuilds({ concurrent: 2 }), hostGuard(), stampLabels({ labels })] });
 * ```
 */
export function limitClassicBuilds(options: LimitClassicBuildsOptions = {}): Middleware {
  const max = options.concurrent ?? 4;
  if (!Number.isSafeInteger(max) || max < 1)
    throw new TypeError('limitClassicBuilds(): concurrent must be a positive integer');
  let running = 0;
  const waiting: (() => void)[] = [];
  /** A slot, at once or once one is handed over. */
  const acquire = (): Promise<void> | undefined => {
    if (running < max) {
      running++;
      return undefined;
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  /** The slot goes to the build that waited longest, or back to the pool. */
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running--;
  };
  return on('ImageBuild', async (ctx, next) => {
    // the engine reads the first `version` (Go's Query().Get)
    if (ctx.request.query.get('version') === '2') {
      await next();
      return;
    }
    await acquire();
    let released = false;
    const done = () => {
      if (released) return;
      released = true;
      release();
    };
    try {
      await next();
    } catch (err) {
      done();
      throw err;
    }
    // the context is held until the build's answer ends (or its client leaves)
    if (ctx.response) ctx.response.onEnd(done);
    else done();
  });
}
