import { realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { type Context, compose, type Middleware, on } from '@dockhand/core';
import { minimatch } from 'minimatch';
import { anonymousVolumes } from './anonymous-volumes.ts';
import { engineApiVersion, versionAtLeast } from './engine-version.ts';
import { refuse } from './errors.ts';
import { checkedBody, child, field, isObject, type JsonObject, setField } from './fields.ts';
import { makeMissingSubpaths, type Subpath } from './missing-subpaths.ts';
import {
  bindSpec,
  cleanHostPath,
  type MountEntry,
  readMounts,
  sanctionedBinds,
  under,
  writeMounts,
} from './mounts.ts';
import type { Ownership } from './ownership.ts';
import { subpathErrors } from './subpath-errors.ts';

/** One remapped directory: bind paths under `path` become mounts of `volume` (at `subpath`). */
export interface Remap {
  /** The directory as the tenant sees it, e.g. `/home/coder/project`. */
  readonly path: string;
  /** The engine's real name of the volume the files live in. */
  readonly volume: string;
  /** Where `path` lies inside the volume (default: its root). */
  readonly subpath?: string;
  /**
   * Where the proxy itself sees the volume's files: needed by the fallback of {@link Remap.unsafeBindFallback},
   * which checks through it that no symlink leads out of the volume.
   */
  readonly verifyRoot?: string;
  /**
   * On engines older than API 1.45, which cannot mount part of a volume, bind the directory inside the volume's
   * mountpoint instead, after checking through `verifyRoot` that no symlink leads out of the volume. Default
   * `false`: there a bind of a directory under `path` is refused (one of `path` itself is a mount of the whole
   * volume, on any engine).
   *
   * **Unsafe with tenants you do not trust with the host.** The check and the engine's mount are two moments: a
   * tenant who can write the volume swaps the checked directory for a symlink before the container starts (or
   * before the engine restarts it, which no request announces), and the engine then mounts what the symlink names
   * on the host, `/` included. Engines from API 1.45 resolve a subpath inside the volume themselves.
   */
  readonly unsafeBindFallback?: boolean;
}

/** Options of {@link mountPolicy}. */
export interface MountPolicyOptions {
  /** What may be mounted as it is. */
  readonly allow?: {
    /** minimatch globs of host paths that may be bind-mounted (e.g. `/srv/datasets/**`). */
    readonly binds?: readonly string[];
    /** Names or globs of volumes that are not the tenant's but may be mounted. */
    readonly volumes?: readonly string[];
    /**
     * Names or globs of volumes that are not the tenant's and may be mounted read-only only (e.g. the volume of
     * the proxy's own socket, which a tenant who could write it could replace).
     */
    readonly readOnlyVolumes?: readonly string[];
    /** Volume drivers other than `local` that `volumes/create` may use. */
    readonly volumeDrivers?: readonly string[];
  };
  /** Directories to remap to volumes. */
  readonly remap?: readonly Remap[];
  /**
   * The tenant's ownership cache: volumes the tenant owns may be mounted, and missing ones are created as its. One
   * made without an engine is connected to the proxy's on the first request.
   */
  readonly ownership?: Ownership;
  /** Labels for volumes created on the tenant's behalf (when a create names a volume that does not exist). */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * An image of the operator's (never one a tenant can build or tag: e.g. the proxy's own), for the container
   * that makes the directories remapped binds name where they are missing, as the engine makes a bind's missing
   * source. Without it a missing directory fails the container's start.
   */
  readonly helperImage?: string;
}

/** How long a remapped bind's directory, once seen, is taken to exist (it is looked for again after). */
const KNOWN_DIR_MS = 60_000;
/** How many such directories are remembered before the memory starts again. */
const MAX_KNOWN_DIRS = 10_000;

/** The mount types the engine knows, besides those a tenant may use; any other it refuses as invalid. */
const KNOWN_MOUNT_TYPES = new Set(['npipe', 'cluster', 'image']);
const KEEPABLE = new Set(['nocopy', 'private', 'rprivate', 'consistent', 'cached', 'delegated']);
const DROPPABLE = new Set(['consistent', 'cached', 'delegated', 'private', 'rprivate']);

/**
 * Allows only approved mount sources and remaps bind paths to the volume the files really live in.
 *
 * Covers `HostConfig.Binds`, `HostConfig.Mounts` of every type, `volumes/create` and `VolumesFrom` (made the
 * mounts it copies, by name, and checked as they are).
 * - bind sources are allowed only under allowlisted globs; binds under a remapped directory become volume
 *   mounts of the volume's subdirectory (`VolumeOptions.Subpath` on API >= 1.45, a bind of the volume's
 *   mountpoint, checked for symlinks, before that), keeping `ro` and `nocopy` and refusing options that cannot
 *   be kept;
 * - volumes only if the tenant owns them or they are allowlisted; a missing one is created as the tenant's;
 * - `volumes/create` only with the `local` driver and no driver options (`type=none,o=bind`, `device=`, nfs,
 *   cifs reach the host or the network);
 * - the engine's errors for a subpath it will not mount, which told which host paths exist, are one message (see
 *   `subpathErrors`).
 *
 * @param options - allowlists and remaps
 * @returns the middleware
 * @example
 * ```ts
 * mountPolicy({ remap: [{ path: '/home/coder/project', volume: 'alice_project' }], allow: { binds: [] } });
 * ```
 */
export function mountPolicy(options: MountPolicyOptions = {}): Middleware {
  const bindGlobs = options.allow?.binds ?? [];
  const volumeGlobs = options.allow?.volumes ?? [];
  const readOnlyGlobs = options.allow?.readOnlyVolumes ?? [];
  const drivers = new Set(['', 'local', ...(options.allow?.volumeDrivers ?? [])]);
  const remaps = (options.remap ?? []).map((r) => ({ ...r, path: cleanHostPath(r.path) }));

  const allowedText = (): string => {
    const parts: string[] = [];
    if (remaps.length) parts.push(`paths under ${remaps.map((r) => r.path).join(', ')}`);
    if (bindGlobs.length) parts.push(`host paths matching ${bindGlobs.join(', ')}`);
    parts.push('your own volumes');
    if (volumeGlobs.length) parts.push(`the volumes ${volumeGlobs.join(', ')}`);
    if (readOnlyGlobs.length) parts.push(`the volumes ${readOnlyGlobs.join(', ')} read-only`);
    return parts.join(', ');
  };

  const volumeAllowed = async (
    ctx: Context,
    name: string,
    target: string,
    readOnly: boolean,
    given: unknown,
  ): Promise<void> => {
    if (volumeGlobs.some((g) => minimatch(name, g))) return;
    if (readOnlyGlobs.some((g) => minimatch(name, g))) {
      if (readOnly) return;
      throw refuse(
        'DOCKHAND_MOUNT_REFUSED',
        `the volume '${name}' may be mounted only read-only here (at ${target}: add :ro, or readonly)`,
      );
    }
    if (remaps.some((r) => r.volume === name)) return;
    const own = options.ownership;
    if (own) {
      const state = await own.volumeState(name);
      if (state === 'owned') return;
      if (state === 'missing') {
        const reply = await ctx.upstream.request({
          method: 'POST',
          path: '/volumes/create',
          // with the labels the mount gives it (`volume-label=`), as the engine makes it, under the tenant's
          // (found by review, stop 27: they were lost)
          body: { Name: name, Labels: { ...(isObject(given) ? given : {}), ...options.labels } },
        });
        const created = await reply.json<{ Name: string; Labels: Record<string, string> | null }>();
        if (reply.status === 201 && (await own.volumeState(created.Name)) === 'owned') return;
      }
    }
    throw refuse(
      'DOCKHAND_MOUNT_REFUSED',
      `mounting volume '${name}' at ${target} is not allowed here; allowed: ${allowedText()}`,
    );
  };

  const remapMount = async (
    ctx: Context,
    m: MountEntry,
    source: string,
  ): Promise<{ bind?: string; mount?: JsonObject } | undefined> => {
    for (const r of remaps) {
      const rel = under(source, r.path);
      if (rel === undefined) continue;
      for (const o of m.options) {
        if (!KEEPABLE.has(o)) {
          throw refuse(
            'DOCKHAND_MOUNT_REFUSED',
            `the mount option '${o}' of ${source} cannot be kept when it is mapped to a volume`,
          );
        }
      }
      const subpath = posix.join(r.subpath ?? '', rel).replace(/^\.$/, '');
      if (subpath.split('/').includes('..'))
        throw refuse('DOCKHAND_MOUNT_REFUSED', `mount source '${source}' escapes ${r.path}`);
      const engine = await engineApiVersion(ctx.upstream);
      const subpaths = versionAtLeast(engine, '1.45');
      // the whole volume needs no subpath, on any engine
      if (subpaths || subpath === '') {
        if (subpaths && ctx.apiVersion !== undefined && !versionAtLeast(ctx.apiVersion, '1.45'))
          ctx.apiVersion = '1.45';
        // a bind never copies the image's files at its target into the host directory, and neither does this
        // mount (found by review, stop 23: an empty project directory bound at `/etc` was filled with the image's
        // files); so the engine no longer resolves the subpath at create to fill it either
        const volumeOptions: JsonObject = { NoCopy: true };
        if (subpath !== '') volumeOptions.Subpath = subpath;
        return {
          mount: {
            Type: 'volume',
            Source: r.volume,
            Target: m.target,
            ReadOnly: m.readOnly,
            VolumeOptions: volumeOptions,
          },
        };
      }
      // API < 1.45: no subpaths; the fallback binds a directory of the volume's mountpoint, after checking that no
      // symlink leads out of it, which a tenant can undo before the engine mounts it: only when asked for
      if (!r.unsafeBindFallback) {
        throw refuse(
          'DOCKHAND_MOUNT_REFUSED',
          `this engine (API ${engine}) cannot mount part of a volume safely, so ${source} cannot be mounted here; mount all of ${r.path}, or use Docker Engine 26 or later (API 1.45)`,
        );
      }
      if (!r.verifyRoot) {
        throw refuse(
          'DOCKHAND_MOUNT_REFUSED',
          `this engine (API ${engine}) cannot mount part of a volume, and the proxy cannot check ${source} for symlinks`,
        );
      }
      const root = await realpath(r.verifyRoot);
      let real: string;
      try {
        real = await realpath(posix.join(r.verifyRoot, subpath));
      } catch {
        throw refuse('DOCKHAND_MOUNT_REFUSED', `mount source '${source}' does not exist`);
      }
      if (real !== root && !real.startsWith(`${root}/`))
        throw refuse('DOCKHAND_MOUNT_REFUSED', `mount source '${source}' leads out of ${r.path}`);
      const inspect = await ctx.upstream.request({ path: `/volumes/${encodeURIComponent(r.volume)}` });
      const vol = await inspect.json<{ Mountpoint: string }>();
      const hostPath = posix.join(vol.Mountpoint, real.slice(root.length));
      const opts = [
        m.readOnly ? 'ro' : 'rw',
        ...m.options.filter((o) => !DROPPABLE.has(o) && o !== 'nocopy'),
      ];
      sanctionedBinds(ctx.state).add(hostPath);
      return { bind: `${hostPath}:${m.target}:${opts.join(',')}` };
    }
    return undefined;
  };

  /**
   * `VolumesFrom` as the mounts it copies, named: the engine copies another container's volume mounts by their
   * host path and holds no reference to the volume, so a volume removed meanwhile and made again under its name,
   * by another tenant or for a later workshop instance, was what the copying container mounted when it next
   * started (found by review, stop 20). A mount by name makes the engine hold the volume while the container
   * exists. The copied container must be the tenant's; what it mounts is checked again as any mount is, except
   * that a volume it mounts without a tenant's label (its anonymous volumes) may be copied.
   */
  const expandVolumesFrom = async (ctx: Context, hc: JsonObject, copied: Set<JsonObject>): Promise<void> => {
    const from = field(hc, 'VolumesFrom');
    if (from === undefined || from === null) return;
    if (!Array.isArray(from)) throw refuse('DOCKHAND_MOUNT_REFUSED', 'VolumesFrom must be a list');
    const own = options.ownership;
    if (!own)
      throw refuse('DOCKHAND_MOUNT_REFUSED', 'VolumesFrom is not allowed here; name the volumes to mount');
    const taken = new Set(readMounts(hc).map((m) => m.target));
    const mounts = [...((field(hc, 'Mounts') as JsonObject[] | null | undefined) ?? [])];
    for (const entry of from) {
      const [ref = '', mode = ''] = String(entry).split(':');
      if (mode !== '' && mode !== 'ro' && mode !== 'rw')
        throw refuse('DOCKHAND_MOUNT_REFUSED', `VolumesFrom ${String(entry)}: the mode must be ro or rw`);
      const id = await own.container(ref);
      const reply = await ctx.upstream.request({ path: `/containers/${id}/json` });
      if (reply.status !== 200) {
        await reply.text();
        throw refuse(
          'DOCKHAND_ENGINE_LOOKUP_FAILED',
          `the container ${ref} could not be read (HTTP ${reply.status})`,
        );
      }
      const info = await reply.json<{
        Mounts?:
          | { Type?: string; Name?: string; Source?: string; Destination?: string; RW?: boolean }[]
          | null;
      }>();
      for (const m of info.Mounts ?? []) {
        const target = m.Destination ?? '';
        // an explicit mount at the same place wins, as the engine has it
        if (target === '' || taken.has(target)) continue;
        const readOnly = mode === 'ro' || m.RW === false;
        let mount: JsonObject;
        if (m.Type === 'volume' && m.Name)
          mount = { Type: 'volume', Source: m.Name, Target: target, ReadOnly: readOnly };
        else if (m.Type === 'bind' && m.Source)
          mount = { Type: 'bind', Source: m.Source, Target: target, ReadOnly: readOnly };
        else continue;
        taken.add(target);
        copied.add(mount);
        mounts.push(mount);
      }
    }
    setField(hc, 'Mounts', mounts.length > 0 ? mounts : undefined);
    setField(hc, 'VolumesFrom', undefined);
  };

  /**
   * Removes the container a create just made (its volumes were not the ones checked). Fails closed: a container
   * the engine would not remove is an error the client sees, and logged.
   */
  const removeCreated = async (ctx: Context): Promise<void> => {
    const { Id: id } = await ctx.response!.json<{ Id: string }>();
    const reply = await ctx.upstream.request({
      method: 'DELETE',
      path: `/containers/${id}`,
      query: { force: '1' },
    });
    const text = await reply.text();
    if (reply.status === 204 || reply.status === 404) return;
    ctx.log.error(
      { container: id, status: reply.status, body: text.slice(0, 200) },
      'a container made with a volume not checked could not be removed',
    );
    throw refuse(
      'DOCKHAND_ENGINE_LOOKUP_FAILED',
      `the container ${id} was made with a volume that changed while it was created, and could not be removed: remove it (docker rm -f ${id.slice(0, 12)})`,
    );
  };

  /**
   * Whether a volume may be copied from another container of the tenant's (`VolumesFrom`): the tenant's own, or
   * one of its anonymous volumes (no label, a random 64-digit name nobody else would make). Asked before the
   * create and again after it: a volume removed meanwhile and made again under its name by another tenant would
   * be mounted by name (found by review, stop 20).
   */
  const copiable = async (ctx: Context, name: string): Promise<boolean> => {
    const reply = await ctx.upstream.request({ path: `/volumes/${encodeURIComponent(name)}` });
    if (reply.status !== 200) {
      await reply.text();
      return false;
    }
    const volume = await reply.json<{ Labels?: Record<string, string> | null }>();
    const owner = volume.Labels?.[options.ownership?.label.key ?? ''];
    return owner === undefined ? /^[0-9a-f]{64}$/.test(name) : owner === options.ownership?.label.value;
  };

  /** After a create: each volume copied by `VolumesFrom` is still {@link copiable}, else the container is removed. */
  const checkCopiedVolumes = async (ctx: Context, names: ReadonlySet<string>): Promise<void> => {
    for (const name of names) {
      if (await copiable(ctx, name)) continue;
      await removeCreated(ctx);
      throw refuse(
        'DOCKHAND_MOUNT_REFUSED',
        `the volume '${name}' was removed while the container was created; create it again`,
      );
    }
  };

  // the directories of remapped binds: one helper at a time for this tenant (review 23f: 100 creates at once, each
  // with its own helper, kept the engine busy for a minute), and those known to exist are not looked for again
  // for a minute
  let helperTurn: Promise<unknown> = Promise.resolve();
  const knownDirs = new Map<string, number>();
  const makeDirectories = async (ctx: Context, image: string, wanted: readonly Subpath[]): Promise<void> => {
    const key = (w: Subpath) => `${w.volume}\0${w.subpath}`;
    const now = Date.now();
    const missing = wanted.filter((w) => (knownDirs.get(key(w)) ?? 0) < now);
    if (missing.length === 0) return;
    const turn = helperTurn.then(() =>
      makeMissingSubpaths(ctx, image, missing, Object.values(options.labels ?? {}).join(',')),
    );
    helperTurn = turn.catch(() => undefined);
    if (knownDirs.size > MAX_KNOWN_DIRS) knownDirs.clear();
    for (const w of await turn) knownDirs.set(key(w), Date.now() + KNOWN_DIR_MS);
  };

  const create: Middleware = on('ContainerCreate', async (ctx, next) => {
    const body = await checkedBody(() => ctx.request.json());
    const hc = child(body, 'HostConfig');
    const copied = new Set<JsonObject>();
    await expandVolumesFrom(ctx, hc, copied);
    const copiedNames = new Set<string>();
    const sanctioned =
      (ctx.state['dockhand.sanctionedBinds'] as Set<string> | undefined) ?? new Set<string>();
    let binds: string[] = [];
    let mounts: JsonObject[] = [];
    const wanted: Subpath[] = [];
    for (const m of readMounts(hc)) {
      if (m.type === 'bind') {
        const source = cleanHostPath(m.source);
        if (sanctioned.has(source)) {
          keep(m, binds, mounts);
          continue;
        }
        const remapped = await remapMount(ctx, m, source);
        const subpath = remapped?.mount ? (remapped.mount.VolumeOptions as JsonObject).Subpath : undefined;
        // a bind's missing source is made by the engine; a subpath's must exist (`--mount type=bind` is refused
        // a missing source by the engine too)
        if (m.from === 'Binds' && typeof subpath === 'string')
          wanted.push({ volume: String(remapped!.mount!.Source), subpath });
        if (remapped?.mount) mounts.push(remapped.mount);
        else if (remapped?.bind) binds.push(remapped.bind);
        else if (bindGlobs.some((g) => minimatch(source, g))) {
          if (m.options.some((o) => /^r?(shared|slave)$/.test(o))) {
            throw refuse(
              'DOCKHAND_MOUNT_REFUSED',
              `mount propagation '${m.options.join(',')}' of ${source} is not allowed here`,
            );
          }
          // the path as checked, cleaned as the engine cleans it
          if (m.raw) setField(m.raw, 'Source', source);
          keep({ ...m, source }, binds, mounts);
        } else {
          throw refuse(
            'DOCKHAND_MOUNT_REFUSED',
            `bind-mounting ${source} at ${m.target} is not allowed here; allowed: ${allowedText()}`,
          );
        }
      } else if (m.type === 'volume') {
        if (m.raw) {
          const vo = field(m.raw, 'VolumeOptions');
          const dc = isObject(vo) ? field(vo, 'DriverConfig') : undefined;
          if (isObject(dc) && (field(dc, 'Name') ?? '') !== '' && !drivers.has(String(field(dc, 'Name')))) {
            throw refuse(
              'DOCKHAND_MOUNT_REFUSED',
              `the volume driver '${String(field(dc, 'Name'))}' is not allowed here`,
            );
          }
          if (
            isObject(dc) &&
            isObject(field(dc, 'Options')) &&
            Object.keys(field(dc, 'Options') as object).length
          ) {
            throw refuse('DOCKHAND_MOUNT_REFUSED', 'volume driver options are not allowed here');
          }
        }
        if (
          m.source !== '' &&
          m.raw &&
          copied.has(m.raw) &&
          !readOnlyGlobs.some((g) => minimatch(m.source, g)) &&
          !volumeGlobs.some((g) => minimatch(m.source, g)) &&
          !remaps.some((r) => r.volume === m.source)
        )
          if (!(await copiable(ctx, m.source)))
            throw refuse(
              'DOCKHAND_MOUNT_REFUSED',
              `mounting volume '${m.source}' at ${m.target} is not allowed here`,
            );
          else copiedNames.add(m.source);
        else if (m.source !== '') {
          const vo = m.raw ? field(m.raw, 'VolumeOptions') : undefined;
          await volumeAllowed(
            ctx,
            m.source,
            m.target,
            m.readOnly,
            isObject(vo) ? field(vo, 'Labels') : undefined,
          );
        }
        // a subpath is never filled from the image's files at the target, as a remapped bind is not: filling it,
        // the engine resolved the subpath at create, and its failure told whether a symlink's host path exists
        // (review, stop 22); the tenant's own `Mounts` with a subpath alike
        if (m.from === 'Mounts' && m.raw) {
          const vo = field(m.raw, 'VolumeOptions');
          const subpath = isObject(vo) ? field(vo, 'Subpath') : undefined;
          if (subpath !== undefined && subpath !== null && subpath !== '') setNoCopy(m.raw);
        }
        // the engine copies the image's files at the target into an empty volume, read-only mount or not: an
        // image of the tenant's could put a symlink where the socket goes
        if (m.source !== '' && readOnlyGlobs.some((g) => minimatch(m.source, g))) {
          if (m.from === 'Mounts' && m.raw) {
            setNoCopy(m.raw);
            keep(m, binds, mounts);
          } else
            keep({ ...m, options: [...m.options.filter((o) => o !== 'nocopy'), 'nocopy'] }, binds, mounts);
          continue;
        }
        keep(m, binds, mounts);
      } else if (m.type === 'tmpfs') {
        keep(m, binds, mounts);
      } else if (KNOWN_MOUNT_TYPES.has(m.type)) {
        throw refuse('DOCKHAND_MOUNT_REFUSED', `mounts of type '${m.type}' are not allowed here`);
      } else {
        // in the engine's words, as it refuses one (found by review, stop 26)
        throw refuse(
          'DOCKHAND_INVALID_MOUNT',
          `invalid mount config for type "${m.type}": mount type unknown`,
        );
      }
    }
    // a volume the engine makes for a mount gets the tenant's labels, over any the mount gives (found by
    // review, stop 20: an anonymous volume labelled as another tenant's); the anonymous volumes it makes of its
    // own accord (`-v /data`, an image's `VOLUME`) are given as mounts first, to be labelled too
    if (options.labels) ({ binds, mounts } = await anonymousVolumes(ctx, body, hc, binds, mounts));
    if (options.labels)
      for (const m of mounts) {
        if (String(field(m, 'Type') ?? '').toLowerCase() !== 'volume') continue;
        const vo = field(m, 'VolumeOptions');
        const given = isObject(vo) ? field(vo, 'Labels') : undefined;
        const volumeOptions = { ...(isObject(vo) ? vo : {}) };
        setField(volumeOptions, 'Labels', { ...(isObject(given) ? given : {}), ...options.labels });
        setField(m, 'VolumeOptions', volumeOptions);
      }
    writeMounts(hc, binds, mounts);
    ctx.request.setJson(body);
    if (wanted.length > 0 && options.helperImage) await makeDirectories(ctx, options.helperImage, wanted);
    await next();
    if (ctx.response?.status === 201)
      await checkMadeVolumes(
        ctx,
        readMounts(hc).filter((m) => !(m.raw && copied.has(m.raw))),
      );
    if (ctx.response?.status === 201 && copiedNames.size > 0) await checkCopiedVolumes(ctx, copiedNames);
  });

  /**
   * After a create: each of the tenant's own volumes it mounts by name is still the tenant's. The tenant could
   * remove one between the check and the engine's create, and the engine then made a volume of that name itself,
   * with no label for a `-v name:/path` (found by review, stop 20: an unlabelled volume under a later workshop
   * instance's name passes that instance's check). Such a container is removed, and such a volume with it.
   */
  const checkMadeVolumes = async (ctx: Context, made: readonly MountEntry[]): Promise<void> => {
    const own = options.ownership;
    if (!own) return;
    const named = made.filter(
      (m) =>
        m.type === 'volume' &&
        m.source !== '' &&
        !volumeGlobs.some((g) => minimatch(m.source, g)) &&
        !readOnlyGlobs.some((g) => minimatch(m.source, g)) &&
        !remaps.some((r) => r.volume === m.source),
    );
    const lost: string[] = [];
    for (const m of new Set(named.map((x) => x.source)))
      if ((await own.volumeState(m)) !== 'owned') lost.push(m);
    if (lost.length === 0) return;
    await removeCreated(ctx);
    for (const name of lost) {
      // only a volume the engine made (no tenant's label): never another tenant's
      const reply = await ctx.upstream.request({ path: `/volumes/${encodeURIComponent(name)}` });
      const v =
        reply.status === 200 ? await reply.json<{ Labels?: Record<string, string> | null }>() : undefined;
      if (reply.status !== 200) await reply.text();
      else if (v?.Labels?.[own.label.key] === undefined)
        await (
          await ctx.upstream.request({ method: 'DELETE', path: `/volumes/${encodeURIComponent(name)}` })
        ).text();
    }
    throw refuse(
      'DOCKHAND_MOUNT_REFUSED',
      `the volume '${lost[0]}' was removed while the container was created; create it again`,
    );
  };

  const volumeCreate: Middleware = on('VolumeCreate', async (ctx, next) => {
    const body = await checkedBody(() => ctx.request.json());
    const driver = String(field(body, 'Driver') ?? '');
    if (!drivers.has(driver))
      throw refuse('DOCKHAND_MOUNT_REFUSED', `the volume driver '${driver}' is not allowed here`);
    const opts = field(body, 'DriverOpts');
    if (isObject(opts) && Object.keys(opts).length > 0) {
      throw refuse(
        'DOCKHAND_MOUNT_REFUSED',
        `volume driver options (${Object.keys(opts).join(', ')}) are not allowed here: they can bind host paths or reach the network`,
      );
    }
    if (field(body, 'ClusterVolumeSpec') !== undefined)
      throw refuse('DOCKHAND_MOUNT_REFUSED', 'cluster volumes are not allowed here');
    await next();
  });

  // a cache made without an engine is bound to this proxy's (a no-op once bound)
  const connect: Middleware = on(['ContainerCreate', 'VolumeCreate'], (ctx, next) => {
    options.ownership?.connect(ctx.upstream, ctx.log);
    return next();
  });
  return compose([connect, create, volumeCreate, subpathErrors()]);
}

/** Sets a `Mounts` entry's `VolumeOptions.NoCopy`, in place of any other spelling of it, keeping its other options. */
function setNoCopy(mount: JsonObject): void {
  const vo = field(mount, 'VolumeOptions');
  const volumeOptions = { ...(isObject(vo) ? vo : {}) };
  setField(volumeOptions, 'NoCopy', true);
  setField(mount, 'VolumeOptions', volumeOptions);
}

function keep(m: MountEntry, binds: string[], mounts: JsonObject[]): void {
  if (m.from === 'Mounts' && m.raw) mounts.push(m.raw);
  else binds.push(bindSpec(m));
}
