import { assertUnambiguousJson, type Context } from '@dockhand/core';
import {
  type BuildArgs,
  dockerfileReads,
  dockerfileRemoteSources,
  type ImageRead,
  peekDockerfile,
  writtenDockerfile,
} from './build-context.ts';
import { refuse } from './errors.ts';

/** What a classic build reads, worked out once per request for the middleware that check it. */
export interface ClassicBuild {
  /** The Dockerfile, as the engine will read it from the context. */
  readonly dockerfile: string;
  /**
   * The images the Dockerfile reads: its `FROM`, `COPY --from` and `RUN --mount=from=` images, `ONBUILD` included.
   * The triggers of these images, which run in this build too, are the image check's to read (`onBuildReads`),
   * once it knows the tenant may see the image.
   */
  readonly images: readonly string[];
  /** Those of {@link ClassicBuild.images} the build starts from (`FROM`): the engine runs their triggers. */
  readonly bases: readonly string[];
  /** The remote sources the Dockerfile's `ADD` instructions fetch (URLs, git repositories). */
  readonly remote: readonly string[];
}

/** The largest context the proxy holds to read its Dockerfile; BuildKit (the default builder) has no such limit. */
const CONTEXT_LIMIT = 64 * 1024 * 1024;

const builds = new WeakMap<Context, Promise<ClassicBuild | undefined>>();
/** What pinning a build needs: its image reads, with their `FROM` instructions, and how to replace its Dockerfile. */
const internals = new WeakMap<
  Context,
  {
    reads: ImageRead[];
    replace: (dockerfile: string) => Promise<{ body: import('node:stream').Readable; length: number }>;
  }
>();

/**
 * Makes the engine build what was checked: the Dockerfile the engine reads becomes the instructions as the check
 * read them, one per line, with the `FROM` instructions of the base images naming the ids they were checked as,
 * not whatever their names point at when the engine reaches each `FROM` ({@link writtenDockerfile}), appended to
 * the context.
 *
 * @param ctx - the `ImageBuild` request's context, after {@link classicBuild}
 * @param ids - each base image reference with the id of the image it was checked as
 * @example
 * ```ts
 * pinClassicBuild(ctx, new Map([['busybox', 'sha256:...']]));
 * ```
 */
export async function pinClassicBuild(ctx: Context, ids: ReadonlyMap<string, string>): Promise<void> {
  const build = await classicBuild(ctx);
  const inner = internals.get(ctx);
  if (build === undefined || inner === undefined) return;
  const pins: [ImageRead, string][] = [];
  for (const read of inner.reads) {
    if (!read.base) continue;
    const id = ids.get(read.ref);
    if (id === undefined) throw new Error(`no image id to pin ${read.ref} to`);
    pins.push([read, id]);
  }
  const { body, length } = await inner.replace(writtenDockerfile(build.dockerfile, pins));
  ctx.request.takeStream()?.destroy();
  ctx.request.headers.set('Content-Length', String(length));
  ctx.request.restoreStream(body);
}

/**
 * What the classic build of a `POST /build` reads, or `undefined` for a BuildKit build (`version=2`, whose
 * Dockerfile comes over its session) and a remote context (refused by {@link hostGuard}). The context is read once
 * per request, whichever middleware asks first, and replayed to the engine byte for byte.
 *
 * @param ctx - the `ImageBuild` request's context
 * @returns the build's Dockerfile, images and remote sources
 * @throws {@link @dockhand/core!DockhandError} for a context or Dockerfile the proxy cannot read as the engine does
 *   (see {@link peekDockerfile} and {@link dockerfileImages}), or `buildargs` that are not JSON
 * @example
 * ```ts
 * const build = await classicBuild(ctx);
 * for (const ref of build?.images ?? []) await assertImageVisible(ctx, ref);
 * ```
 */
export function classicBuild(ctx: Context): Promise<ClassicBuild | undefined> {
  let read = builds.get(ctx);
  if (read === undefined) {
    read = readClassicBuild(ctx);
    builds.set(ctx, read);
  }
  return read;
}

async function readClassicBuild(ctx: Context): Promise<ClassicBuild | undefined> {
  const query = ctx.request.query;
  if (query.get('version') === '2' || query.get('remote')) return undefined;
  const stream = ctx.request.takeStream();
  if (stream === undefined) return undefined;
  const { dockerfile, replay, replace } = await peekDockerfile(
    stream,
    query.get('dockerfile') || 'Dockerfile',
    CONTEXT_LIMIT,
  );
  ctx.request.restoreStream(replay);
  let buildArgs: unknown;
  try {
    buildArgs = JSON.parse(query.get('buildargs') || '{}') ?? {};
  } catch {
    throw refuse('DOCKHAND_AMBIGUOUS_BODY', 'the buildargs parameter is not valid JSON');
  }
  // the engine decodes it into a map of strings or nulls, and refuses the build otherwise
  if (
    typeof buildArgs !== 'object' ||
    Array.isArray(buildArgs) ||
    Object.values(buildArgs as object).some((v) => v !== null && typeof v !== 'string')
  )
    throw refuse('DOCKHAND_AMBIGUOUS_BODY', 'the buildargs parameter must be a JSON object of strings');
  assertUnambiguousJson(query.get('buildargs') || '{}', 'the buildargs parameter');
  const target = query.get('target') ?? undefined;
  const reads = dockerfileReads(dockerfile, buildArgs as BuildArgs, target);
  internals.set(ctx, { reads, replace });
  return {
    dockerfile,
    images: reads.map((r) => r.ref),
    bases: reads.filter((r) => r.base).map((r) => r.ref),
    remote: dockerfileRemoteSources(dockerfile, target),
  };
}
