import { type Context, type Middleware, on, untouchedWhen } from '@dockhand/core';
import { isObject } from './fields.ts';
import { FULL_ID } from './ownership.ts';

/**
 * The engine's errors for a volume subpath it will not mount: the subpath resolves (the engine follows symlinks
 * in the volume, as root) to a path out of the volume, or a component of it is missing (named in the message).
 */
const SUBPATH_ERROR =
  /path concatenation escapes the base directory|cannot access path |error while resolving symlinks|error evaluating symlinks/;
/**
 * What a tenant sees instead. It says `no such file or directory`, as the engine's own answer for a missing
 * subpath does, which the docker CLI reads for its exit code (127; found by review, stop 25: 125 before).
 */
const HIDDEN = `a volume mount's subpath is missing, or is a symlink that leads out of the volume (no such file or directory there): make it a directory in the volume`;
/**
 * The status it comes with, whatever the engine's: 400 where the path exists, 404 where it does not told them
 * apart (found by review, stop 22). Not 404, which the docker CLI takes, on a create, for a missing image.
 */
const HIDDEN_STATUS = 400;
/** The length of the hidden answer's body, for a `HEAD`, which carries none. */
const HIDDEN_LENGTH = Buffer.byteLength(JSON.stringify({ message: HIDDEN }));
/**
 * The routes whose answers can carry such an error: the engine resolves a container's subpaths to fill a new
 * volume with the image's files at create, to start it (also for a restart, and a wait reports a failed start)
 * and to read or write its files (`docker cp`, even of a container never started); inspect keeps the last one in
 * `State.Error` (found by reviews, stop 22).
 */
const SUBPATH_ROUTES = [
  'ContainerCreate',
  'ContainerStart',
  'ContainerRestart',
  'ContainerWait',
  'ContainerArchive',
  'ContainerArchiveInfo',
  'PutContainerArchive',
  'ContainerInspect',
  'ContainerDelete',
] as const;
/** How many containers are remembered as mounting no subpath before the memory starts again. */
const MAX_PLAIN = 10_000;

/**
 * Whether a container's mounts, as the engine's inspect shows them (`HostConfig.Mounts`, in its own spelling of
 * every field), use a subpath. Only the engine's answer is read: it reads a create's field names in any letter
 * case and Unicode folding (`ſubpath` is `Subpath` to it; found by review, stop 22).
 */
function usesSubpath(mounts: unknown): boolean {
  if (!Array.isArray(mounts)) return false;
  return mounts.some((m) => {
    if (!isObject(m) || !isObject(m.VolumeOptions)) return false;
    const subpath = m.VolumeOptions.Subpath;
    return subpath !== '' && subpath !== undefined && subpath !== null;
  });
}

/**
 * Hides the engine's answer to a volume subpath it will not mount. Before it refuses a subpath that leads out of
 * its volume, the engine resolves it, following symlinks as root, and its error told which paths exist on the host:
 * a symlink the tenant put in its own project volume, to any host path, mounted as a subpath, gave `path
 * concatenation escapes the base directory` where the path exists and `cannot access path ...: lstat <the first
 * missing directory>` where it does not (found by review, stop 22: another tenant's volume files, by name). In the
 * answers of create, start, restart, wait, `docker cp` and inspect's `State.Error`, such an error becomes one
 * message. A container is taken as mounting no subpath (and so keeps the byte lane for those routes) only once the
 * engine's inspect of it, through the pipeline, shows none.
 *
 * Whether such a start fails is still an answer: a symlink to `<host path>/../../<the tenant's own
 * volume>/ok` mounts where the host path exists and fails where it does not, since the engine checks each
 * component of a symlink's target, as root, before it drops it for `..` (a create no longer does: `mountPolicy`
 * fills no subpath from the image, so the engine does not resolve it at create). That is in `docs/security.md`'s
 * known gaps: no answer the proxy rewrites closes it.
 *
 * @returns the middleware
 * @example
 * ```ts
 * compose([mountPolicy({ remap: [{ path: '/home/coder/project', volume: 'alice_project' }] }), subpathErrors()]);
 * ```
 */
export function subpathErrors(): Middleware {
  // containers the engine showed to mount no subpath: their answers carry no subpath error
  const plain = new Set<string>();
  const remember = (id: string) => {
    if (plain.size >= MAX_PLAIN) plain.clear();
    plain.add(id);
  };
  const hide = async (ctx: Context) => {
    const res = ctx.response!;
    if (res.status < 400) return;
    if (ctx.request.method === 'HEAD') return hideHead(ctx);
    const body = await res.json<unknown>().catch(() => undefined);
    if (isObject(body) && typeof body.message === 'string' && SUBPATH_ERROR.test(body.message)) {
      res.status = HIDDEN_STATUS;
      res.setJson({ ...body, message: HIDDEN });
    }
  };
  /**
   * A `HEAD` of a container's path (`docker cp`'s stat) carries no message, but its status and `Content-Length`
   * (the length of the message it would have had, which names where a missing path stops) told as much (found by
   * review, stop 22). Every failure but a 404 (no such file in the container, no such container: no host path in
   * either) gets the hidden answer's status and length: the engine answers a subpath it will not mount with a 500
   * there. Decided from this answer alone: a second request, to read the message, met a symlink the tenant had
   * changed meanwhile (found by review, stop 23).
   */
  const hideHead = (ctx: Context) => {
    const res = ctx.response!;
    if (res.status === 404) return;
    res.status = HIDDEN_STATUS;
    res.headers.set('Content-Length', String(HIDDEN_LENGTH));
  };
  /**
   * A wait's answer: `{ StatusCode, Error: { Message } }`, with a 200 the engine sends at once and a body when the
   * container stops. Transformed as it streams: held whole, it held the head too, and `docker run` waits for that
   * head before it starts the container.
   */
  const hideWait = (ctx: Context) => {
    const res = ctx.response!;
    if (res.status !== 200) return hide(ctx);
    res.transformJsonLines((m) => {
      const body = m as { Error?: { Message?: unknown } | null };
      const message = body?.Error?.Message;
      if (typeof message === 'string' && SUBPATH_ERROR.test(message))
        return { ...body, Error: { ...body.Error, Message: HIDDEN } };
      return m;
    });
  };
  return untouchedWhen(
    (req) => FULL_ID.test(req.params.id ?? '') && plain.has(req.params.id!),
    on(SUBPATH_ROUTES, async (ctx, next) => {
      await next();
      const res = ctx.response!;
      if (ctx.operation === 'ContainerDelete') {
        if (res.status < 300) plain.delete(ctx.params.id!);
        return;
      }
      if (ctx.operation === 'ContainerWait') return hideWait(ctx);
      if (ctx.operation !== 'ContainerInspect') return hide(ctx);
      if (res.status !== 200) return;
      const info = await res.json<{
        Id?: string;
        HostConfig?: { Mounts?: unknown } | null;
        State?: { Error?: string } | null;
      }>();
      if (typeof info.State?.Error === 'string' && SUBPATH_ERROR.test(info.State.Error))
        res.setJson({ ...info, State: { ...info.State, Error: HIDDEN } });
      else if (typeof info.Id === 'string' && !usesSubpath(info.HostConfig?.Mounts)) remember(info.Id);
    }),
  );
}
