import type { Context } from '@dockhand/core';

/** What the engine answered for an image's inspect: its status, and its body when 200. */
export interface ImageReply {
  readonly status: number;
  readonly body?: unknown;
}

const KEY = 'dockhand.createImages';

/**
 * Reads an image's inspect (`GET /images/{ref}/json`), once per reference within a container create: the create's
 * checks (its working directory in `hostGuard`, whose the image is in `scopeToTenant`, the ports it exposes in
 * `tenantNetwork`) then read the same answer, and a create costs the engine one read of its image, not one per
 * check. On any other route each call asks the engine: a check there may mean to read the image again after time
 * has passed (a build's names are checked right before each is given).
 *
 * @param ctx - the request's context
 * @param ref - the image reference, as the request gives it
 * @returns the engine's status, and the parsed body when it is 200
 * @example
 * ```ts
 * const { status, body } = await createImage(ctx, 'busybox');
 * ```
 */
export function createImage(ctx: Context, ref: string): Promise<ImageReply> {
  const read = async (): Promise<ImageReply> => {
    const reply = await ctx.upstream.request({ path: `/images/${encodeURIComponent(ref)}/json` });
    if (reply.status !== 200) {
      await reply.text();
      return { status: reply.status };
    }
    return { status: 200, body: await reply.json<unknown>() };
  };
  if (ctx.operation !== 'ContainerCreate') return read();
  ctx.state[KEY] ??= new Map<string, Promise<ImageReply>>();
  const cache = ctx.state[KEY] as Map<string, Promise<ImageReply>>;
  let pending = cache.get(ref);
  if (pending === undefined) {
    pending = read();
    cache.set(ref, pending);
    // an engine that did not answer is asked again by the next check
    pending.catch(() => cache.delete(ref));
  }
  return pending;
}
