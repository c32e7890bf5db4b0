import { type Middleware, type OperationId, on } from '@dockhand/core';
import { refuse } from './errors.ts';

const STATE = 'dockhand.nameHold';

/** Requests that check an image or volume by name and send the name on, for the engine to read again. */
const READS: readonly OperationId[] = [
  'ContainerCreate',
  'ImageBuild',
  'ImageInspect',
  'ImageHistory',
  'ImageTag',
  'ImagePush',
  'ImageGet',
  'ImageGetAll',
];

/** Requests that can free a name a tenant holds: only its own removals can. */
const REMOVALS: readonly OperationId[] = ['ImageDelete', 'ImagePrune', 'VolumeDelete', 'VolumePrune'];

/** Readers share it; a removal takes it alone, after the readers before it, and one removal at a time. */
class NameLock {
  /** Classic builds under way, among the readers. */
  builds = 0;
  #readers = 0;
  #removal: Promise<void> | undefined;
  #idle: (() => void)[] = [];

  /** Waits for a removal under way, then holds the names until the returned release is called (once). */
  async read(): Promise<() => void> {
    while (this.#removal) await this.#removal;
    this.#readers++;
    return () => {
      if (--this.#readers === 0) for (const wake of this.#idle.splice(0)) wake();
    };
  }

  /** Runs `fn` once no read and no other removal is under way. */
  async remove<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      if (this.#removal) await this.#removal;
      else if (this.#readers > 0) await new Promise<void>((wake) => this.#idle.push(wake));
      else break;
    }
    let done!: () => void;
    this.#removal = new Promise<void>((resolve) => {
      done = resolve;
    });
    try {
      return await fn();
    } finally {
      this.#removal = undefined;
      done();
    }
  }
}

/**
 * Holds the image and volume names a tenant's requests check steady until the engine has acted on them. A
 * request that names an image or a volume (a container create, an image inspect, tag, push, save, a classic
 * build's `cachefrom`) is checked by name and sent on by name, and the engine reads the name again: where the
 * tenant freed the name meanwhile, another tenant could take it, and the engine act on the other tenant's image or
 * volume (found by review, stop 24: a create slowed by 3,000 `VolumesFrom` entries ran another tenant's freshly
 * built image, 20 times in 20, and mounted another tenant's new volume; a save slowed by 1,800 names saved
 * another tenant's tag). A name a tenant holds can be freed only by its own removals (another tenant cannot take
 * or move a name that holds the tenant's image or volume), so the tenant's image and volume removals and prunes
 * wait here until no such request is under way (until the engine's answer has ended), and such requests wait for
 * a removal under way. An image removal while a classic build is under way is refused instead, as buildkitGuard
 * refuses it while a BuildKit build runs: a build may take minutes.
 *
 * Per proxy, as the count of running builds: removals through a second proxy of the same tenant are not held. When
 * several middleware include it, only the first a request meets holds.
 *
 * @returns the middleware
 * @example
 * ```ts
 * compose([holdNames(), hostGuard(), scopeToTenant({ label: 'dockhand.tenant=alice' })]);
 * ```
 */
export function holdNames(): Middleware {
  const lock = new NameLock();
  return on([...READS, ...REMOVALS], async (ctx, next) => {
    if (ctx.state[STATE]) return next();
    ctx.state[STATE] = true;
    if (REMOVALS.includes(ctx.operation!)) {
      // a build may read a name at any of its steps, for as long as it runs: refused, not held, as for BuildKit's
      // builds (buildkitGuard)
      if (lock.builds > 0 && ctx.operation!.startsWith('Image'))
        throw refuse(
          'DOCKHAND_IMAGE_POLICY',
          'images cannot be removed here while one of your builds runs (the build may still read them by name); remove them when it has ended',
        );
      return lock.remove(next);
    }
    const build = ctx.operation === 'ImageBuild';
    const held = await lock.read();
    if (build) lock.builds++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      if (build) lock.builds--;
      held();
    };
    try {
      await next();
    } catch (err) {
      release();
      throw err;
    }
    // a streamed answer (a save, a push's progress) may read the name after its head
    if (ctx.response) ctx.response.onEnd(release);
    else release();
  });
}
