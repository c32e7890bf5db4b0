import type { Context } from '@dockhand/core';
import { createImage } from './create-image.ts';
import { field, isObject, type JsonObject } from './fields.ts';
import { cleanPath, parseBind } from './mounts.ts';

/**
 * The label the engine gives the anonymous volumes it makes itself, and by which `docker volume prune` (API 1.42 and
 * later, without `--all`) picks what to remove. A volume made for a `Mounts` entry gets none of its own.
 */
const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

/** A create's mounts, with the anonymous volumes it makes given as `Mounts` entries (see {@link anonymousVolumes}). */
export interface WithAnonymousVolumes {
  /** The `Binds` left: anonymous entries that became `Mounts` are gone. */
  readonly binds: string[];
  /** The `Mounts`, with one of type `volume` and no source for each anonymous volume. */
  readonly mounts: JsonObject[];
}

/**
 * Names the anonymous volumes a container create makes as `Mounts` of type `volume` with no source, where they can
 * carry labels (`VolumeOptions.Labels`, which `mountPolicy` stamps): the engine makes one for each path in the
 * create's `Volumes` (`docker run -v /data`), each `Binds` entry that is a path alone, and each `VOLUME` of the image
 * that no mount covers, and labels none of them. Unlabelled, no tenant saw them, and `docker compose up`, which
 * gives a recreated container the anonymous volumes of the one it replaces by name, was refused their names (the
 * volumes of `postgres`, `mysql`, `redis` images). The engine treats such a mount as the anonymous volume it would
 * have made: filled from the image, removed with the container by `docker rm -v` and `--rm`. Each carries the
 * engine's own anonymous label too, so that `docker volume prune` removes it once no container uses it (found by
 * review, stop 24: a mount's volume gets none, and prunes left them all).
 *
 * @param ctx - the create's context (the image is read once per create, {@link createImage})
 * @param body - the create body
 * @param hc - its `HostConfig`
 * @param binds - the `Binds` the create will send
 * @param mounts - the `Mounts` it will send
 * @returns the `Binds` and `Mounts` to send instead
 * @example
 * ```ts
 * ({ binds, mounts } = await anonymousVolumes(ctx, body, hc, binds, mounts));
 * ```
 */
export async function anonymousVolumes(
  ctx: Context,
  body: JsonObject,
  hc: JsonObject,
  binds: readonly string[],
  mounts: readonly JsonObject[],
): Promise<WithAnonymousVolumes> {
  const keptBinds: string[] = [];
  const out: JsonObject[] = [...mounts];
  const covered = new Set<string>();
  const anonymous: string[] = [];
  for (const spec of binds) {
    const m = parseBind(spec);
    // a path alone, and one with only a mode the `Mounts` form keeps, becomes a `Mounts` entry
    if (m.source === '' && m.options.every((o) => o === 'nocopy')) {
      out.push({
        Type: 'volume',
        Target: m.target,
        ...(m.readOnly ? { ReadOnly: true } : {}),
        VolumeOptions: {
          Labels: { [ANONYMOUS_LABEL]: '' },
          ...(m.options.includes('nocopy') ? { NoCopy: true } : {}),
        },
      });
    } else {
      keptBinds.push(spec);
      covered.add(cleanPath(m.target));
    }
  }
  for (const m of out) covered.add(cleanPath(String(field(m, 'Target') ?? '')));
  const tmpfs = field(hc, 'Tmpfs');
  // a `Tmpfs` key covers a path only as it is spelled: the engine compares it uncleaned (`/data/` left the image's
  // `VOLUME /data` to an anonymous volume of its own, unlabelled; found by review, stop 23)
  if (isObject(tmpfs)) for (const target of Object.keys(tmpfs)) covered.add(target);
  const volumes = field(body, 'Volumes');
  if (isObject(volumes)) anonymous.push(...Object.keys(volumes));
  const image = field(body, 'Image');
  if (typeof image === 'string' && image !== '') {
    const reply = await createImage(ctx, image, { visibleOnly: true });
    // no such image (the CLI pulls it and creates again) or no answer: the engine makes what it makes
    const declared = (reply.body as { Config?: { Volumes?: unknown } | null } | undefined)?.Config?.Volumes;
    if (reply.status === 200 && isObject(declared)) anonymous.push(...Object.keys(declared));
  }
  for (const target of anonymous) {
    const point = cleanPath(target);
    if (target === '' || covered.has(point)) continue;
    covered.add(point);
    out.push({ Type: 'volume', Target: point, VolumeOptions: { Labels: { [ANONYMOUS_LABEL]: '' } } });
  }
  return { binds: keptBinds, mounts: out };
}
