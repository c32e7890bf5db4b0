import { type Middleware, type OperationId, on } from '@dockhand/core';
import { refuse } from './errors.ts';

const STATE = 'dockhand.nameHold';

/** Requests that check an image name and send it on, for the engine to read again. */
const IMAGE_READS: readonly OperationId[] = [
  'ContainerCreate',
  'ImageBuild',
  'ImageInspect',
  'ImageHistory',
  'ImageTag',
  'ImagePush',
  'ImageGet',
  'ImageGetAll',
];

/** Requests that check a volume name and send it on (an inspect too: suspected by review, stop 24). */
const VOLUME_READS: readonly OperationId[] = ['ContainerCreate', 'VolumeInspect'];

/** Requests that can free a name a tenant holds: only its own removals can. */
const IMAGE_REMOVALS: readonly OperationId[] = ['ImageDelete', 'ImagePrune'];
const VOLUME_REMOVALS: readonly OperationId[] = ['VolumeDelete', 'VolumePrune'];

/**
 * Requests the engine reads names for after its answer has begun: a push looks its tags up as it goes. Every
 * other reader's names are read once its answer's head arrives (a save resolves every name before its first
 * byte), so it holds them until then only.
 */
const HELD_TO_THE_END: readonly OperationId[] = ['ImagePush'];

/** How long a removal waits for the requests ahead of it before it is refused. */
const REMOVAL_WAIT_MS = 30_000;

/** Readers share it; a removal takes it alone, after the readers before it, and one removal at a time. */
class NameLock {
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

  /** Runs `fn` once no read and no other removal is under way; refuses after {@link REMOVAL_WAIT_MS}. */
  async remove<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = performance.now() + REMOVAL_WAIT_MS;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0)
        throw refuse(
          'DOCKHAND_NAMES_HELD',
          'a request of yours that names images or volumes (a push, a save, a create) is still under way here; remove them when it has ended',
        );
      if (this.#removal) await Promise.race([this.#removal, sleep(left)]);
      else if (this.#readers > 0)
        await Promise.race([new Promise<void>((wake) => this.#idle.push(wake)), sleep(left)]);
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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * Holds the image and volume names a tenant's requests check steady until the engine has read them. A request
 * that names an image or a volume (a container create, an image inspect, tag, push, save, a classic build's
 * `cachefrom`) is checked by name and sent on by name, and the engine reads the name again: where the tenant
 * freed the name meanwhile, another tenant could take it, and the engine act on the other tenant's image or
 * volume (found by review, stop 24: a create slowed by 3,000 `VolumesFrom` entries ran another tenant's freshly
 * built image, 20 times in 20, and mounted another tenant's new volume; a save slowed by 1,800 names saved
 * another tenant's tag). A name a tenant holds can be freed only by its own removals (another tenant cannot take
 * or move a name that holds the tenant's image or volume), so the tenant's image removals and prunes wait here
 * while a request that names images is under way, and its volume removals and prunes while a create or a volume
 * inspect is, until the engine's answer has begun (a push: ended), and such requests wait for a removal under way.
 * A removal that has waited 30 s is refused (409 `DOCKHAND_NAMES_HELD`): a push to a slow registry, or a client
 * that stops reading a save, must not hold it for ever. An image removal while a classic build is under way is
 * refused at once instead, as buildkitGuard refuses it while a BuildKit build runs: a build may take minutes.
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
  const images = new NameLock();
  const volumes = new NameLock();
  let builds = 0;
  return on(
    [...new Set([...IMAGE_READS, ...VOLUME_READS, ...IMAGE_REMOVALS, ...VOLUME_REMOVALS])],
    async (ctx, next) => {
      if (ctx.state[STATE]) return next();
      ctx.state[STATE] = true;
      const op = ctx.operation!;
      if (IMAGE_REMOVALS.includes(op)) {
        // a build may read a name at any of its steps, for as long as it runs: refused, not held
        if (builds > 0)
          throw refuse(
            'DOCKHAND_IMAGE_POLICY',
            'images cannot be removed here while one of your builds runs (the build may still read them by name); remove them when it has ended',
          );
        return images.remove(next);
      }
      if (VOLUME_REMOVALS.includes(op)) return volumes.remove(next);
      const held = await Promise.all([
        IMAGE_READS.includes(op) ? images.read() : undefined,
        VOLUME_READS.includes(op) ? volumes.read() : undefined,
      ]);
      const build = op === 'ImageBuild';
      if (build) builds++;
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        if (build) builds--;
        for (const h of held) h?.();
      };
      try {
        await next();
      } catch (err) {
        release();
        throw err;
      }
      // a build runs for as long as its answer streams; a push reads its tags as it goes
      if (ctx.response && (build || HELD_TO_THE_END.includes(op))) ctx.response.onEnd(release);
      else release();
    },
  );
}
