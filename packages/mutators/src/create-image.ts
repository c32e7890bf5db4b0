import { type Context, type Middleware, untouchedWhen } from '@dockhand/core';
import { engineList } from './engine-list.ts';
import { refuse } from './errors.ts';
import type { ImageFacts } from './image-policy.ts';

/** What the engine answered for an image's inspect: its status, and its body when 200. */
export interface ImageReply {
  readonly status: number;
  readonly body?: unknown;
}

const KEY = 'dockhand.createImages';
const SCOPE = 'dockhand.imageScope';

/** An image as the engine lists it: what the image policy reads of it, and its id. */
type ListedImage = ImageFacts & { readonly Id: string };

/** An image id, or a prefix of one, as the engine reads a reference: hex digits, `sha256:` optional. */
const HEX_REFERENCE = /^(?:sha256:)?([0-9a-f]{1,64})$/;

/**
 * Makes the image reads of every request that passes (`createImage`) find an image by id, or by a prefix of
 * its id, only among the images the tenant may see. The engine inspects an image it finds in full before the
 * proxy can hide it, and answers a missing one at once: the time of a 404 told another tenant's image from no
 * image, so that a tenant walked the ids of every hidden image, a hex digit at a time (found by review, stop 24:
 * 4,096 three-digit prefixes in 6.7 s, then a 12-digit id in 1.9 s). Such a reference is now looked up in the
 * engine's list of images, which costs the same whoever's images are on it, and only an image the tenant sees is
 * inspected. A name (the engine reads a hex reference as a name first) is taken only from the images the tenant
 * sees, too.
 *
 * Names are still read by inspect: which names are taken is no secret among tenants (a tag another tenant's image
 * holds is refused as such, `docker.io/library/...` names are engine-wide).
 *
 * @param visible - whether the tenant may see an image
 * @returns the middleware
 * @example
 * ```ts
 * compose([scopeImageReads((img) => imageVisible(img, label, policy)), hostGuard()]);
 * ```
 */
export function scopeImageReads(visible: (image: ImageFacts) => boolean): Middleware {
  // it changes no request and no response: a request the rest of the pipeline leaves alone may take the byte lane
  return untouchedWhen(
    () => true,
    async (ctx, next) => {
      ctx.state[SCOPE] ??= visible;
      await next();
    },
  );
}

/**
 * The inspect of the one image a hex reference names among those the tenant sees, read as the engine reads it (a
 * name first, then an id prefix); a 404 for none, or for a prefix of more than one.
 */
async function scopedHexRead(
  ctx: Context,
  ref: string,
  hex: string,
  visible: (image: ImageFacts) => boolean,
): Promise<ImageReply> {
  // never the engine's own reading of the reference, should the list fail: it could be another tenant's image
  const listed = await engineList<ListedImage[]>(ctx.upstream, '/images/json', { all: '1' });
  const seen = listed.filter((img) => visible(img));
  const named = ref === hex ? seen.find((img) => (img.RepoTags ?? []).includes(`${ref}:latest`)) : undefined;
  const found = named ? [named] : seen.filter((img) => img.Id.startsWith(`sha256:${hex}`));
  if (found.length !== 1) return { status: 404 };
  const inspect = await ctx.upstream.request({ path: `/images/${encodeURIComponent(found[0]!.Id)}/json` });
  if (inspect.status !== 200) {
    await inspect.text();
    return failedOr(ref, inspect.status);
  }
  return { status: 200, body: await inspect.json<unknown>() };
}

/**
 * Reads an image's inspect (`GET /images/{ref}/json`), once per reference within a container create: the create's
 * checks (its working directory in `hostGuard`, whose the image is in `scopeToTenant`, the ports it exposes in
 * `tenantNetwork`) then read the same answer, and a create costs the engine one read of its image, not one per
 * check. On any other route each call asks the engine: a check there may mean to read the image again after time
 * has passed (a build's names are checked right before each is given). Under {@link scopeImageReads}, an id or
 * id prefix is found only among the images the tenant sees.
 *
 * @param ctx - the request's context
 * @param ref - the image reference, as the request gives it
 * @param options - `visibleOnly`: under {@link scopeImageReads}, answer 404 for an image the tenant does not see
 *   (for a check that runs before the tenant's scope has refused such an image, and must not describe it)
 * @returns the engine's status (200, 404 for none, 400 for a reference it cannot read), and the parsed body when
 *   it is 200
 * @throws {@link @dockhand/core!DockhandError} 502 `DOCKHAND_ENGINE_LOOKUP_FAILED` for any other answer
 * @example
 * ```ts
 * const { status, body } = await createImage(ctx, 'busybox');
 * ```
 */
export async function createImage(
  ctx: Context,
  ref: string,
  options: { readonly visibleOnly?: boolean } = {},
): Promise<ImageReply> {
  const reply = await cachedRead(ctx, ref);
  const visible = ctx.state[SCOPE] as ((image: ImageFacts) => boolean) | undefined;
  // an image the tenant does not see is none, to a check that runs before the tenant's scope has answered: its
  // refusal would describe the image (found by review, stop 25: a hidden image's WORKDIR under /proc, named by
  // hostGuard's 403, where the tenant's scope then answers 404)
  if (
    options.visibleOnly &&
    visible !== undefined &&
    reply.status === 200 &&
    !visible(imageFacts(reply.body))
  )
    return { status: 404 };
  return reply;
}

/**
 * What the image policy reads of an image's inspect (`GET /images/{ref}/json`): its labels, tags and digests.
 *
 * @param body - the engine's inspect
 * @returns the facts
 * @example
 * ```ts
 * imageVisible(imageFacts((await createImage(ctx, 'busybox')).body), label, policy);
 * ```
 * @internal
 */
export function imageFacts(body: unknown): ImageFacts {
  const img = body as {
    RepoTags?: string[] | null;
    RepoDigests?: string[] | null;
    Config?: { Labels?: Record<string, string> | null } | null;
  };
  return {
    Labels: img.Config?.Labels ?? null,
    RepoTags: img.RepoTags ?? [],
    RepoDigests: img.RepoDigests ?? [],
  };
}

/**
 * The engine's answer for an image it did not give: a missing image (404) or a reference it cannot read (400);
 * anything else is the engine in trouble, and the check fails closed. Every check that reads an image takes an
 * answer it did not understand as none: a 500 let the tenant tag, inspect, save, delete and run another tenant's
 * image, sent on unresolved (found by review, stop 26, with an engine stand-in that answered 500 once).
 *
 * @throws {@link @dockhand/core!DockhandError} 502 `DOCKHAND_ENGINE_LOOKUP_FAILED`
 */
function failedOr(ref: string, status: number): ImageReply {
  if (status === 404 || status === 400) return { status };
  throw refuse('DOCKHAND_ENGINE_LOOKUP_FAILED', `the image ${ref} cannot be looked up here (HTTP ${status})`);
}

/** The engine's answer for an image's inspect, read once per reference within a create. */
function cachedRead(ctx: Context, ref: string): Promise<ImageReply> {
  const read = async (): Promise<ImageReply> => {
    const hex = HEX_REFERENCE.exec(ref)?.[1];
    const visible = ctx.state[SCOPE] as ((image: ImageFacts) => boolean) | undefined;
    if (hex !== undefined && visible !== undefined) return scopedHexRead(ctx, ref, hex, visible);
    const reply = await ctx.upstream.request({ path: `/images/${encodeURIComponent(ref)}/json` });
    if (reply.status !== 200) {
      await reply.text();
      return failedOr(ref, reply.status);
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
