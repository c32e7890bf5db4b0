import { posix } from 'node:path';
import { refuse } from './errors.ts';
import { field, isObject, type JsonObject, setField } from './fields.ts';

/** A mount of a container, from `HostConfig.Binds` or `HostConfig.Mounts`, in one shape. */
export interface MountEntry {
  /** Where it came from. */
  readonly from: 'Binds' | 'Mounts';
  /** `bind`, `volume`, `tmpfs`, or another `Mounts` type. */
  readonly type: string;
  /** The host path (bind) or volume name (volume); empty for anonymous volumes and tmpfs. */
  readonly source: string;
  /** The path inside the container. */
  readonly target: string;
  /** Read-only. */
  readonly readOnly: boolean;
  /** The `Binds` mode options other than `ro`/`rw` (propagation, `z`, `nocopy`, ...). */
  readonly options: readonly string[];
  /** The original `Mounts` object (for fields kept as they are). */
  readonly raw?: JsonObject;
}

/**
 * Parses one `HostConfig.Binds` entry: `source:target[:options]`, or `target` alone (an anonymous volume).
 *
 * @param spec - the entry
 * @returns the mount
 * @example
 * ```ts
 * parseBind('/home/coder/project/dev:/data:ro');
 * // { type: 'bind', source: '/home/coder/project/dev', target: '/data', readOnly: true, options: [] }
 * ```
 */
export function parseBind(spec: string): MountEntry {
  const parts = spec.split(':');
  if (parts.length === 1)
    return { from: 'Binds', type: 'volume', source: '', target: parts[0]!, readOnly: false, options: [] };
  if (parts.length > 3) throw refuse('DOCKHAND_MOUNT_REFUSED', `invalid volume specification: '${spec}'`);
  const [source, target, mode = ''] = parts as [string, string, string?];
  const opts = mode === '' ? [] : mode.split(',');
  const readOnly = opts.includes('ro');
  return {
    from: 'Binds',
    type: source.startsWith('/') ? 'bind' : 'volume',
    source,
    target,
    readOnly,
    options: opts.filter((o) => o !== 'ro' && o !== 'rw'),
  };
}

/**
 * Reads every mount of a container create body.
 *
 * @param hc - the `HostConfig`
 * @returns the mounts, `Binds` first
 * @example
 * ```ts
 * const mounts = readMounts(child(body, 'HostConfig'));
 * ```
 */
export function readMounts(hc: JsonObject): MountEntry[] {
  const out: MountEntry[] = [];
  const binds = field(hc, 'Binds');
  if (binds !== undefined && binds !== null) {
    if (!Array.isArray(binds)) throw refuse('DOCKHAND_MOUNT_REFUSED', 'Binds must be a list');
    for (const b of binds) out.push(parseBind(String(b)));
  }
  const mounts = field(hc, 'Mounts');
  if (mounts !== undefined && mounts !== null) {
    if (!Array.isArray(mounts)) throw refuse('DOCKHAND_MOUNT_REFUSED', 'Mounts must be a list');
    for (const m of mounts) {
      if (!isObject(m)) throw refuse('DOCKHAND_MOUNT_REFUSED', 'each of Mounts must be an object');
      const bindOpts = field(m, 'BindOptions');
      const propagation = isObject(bindOpts) ? field(bindOpts, 'Propagation') : undefined;
      out.push({
        from: 'Mounts',
        type: String(field(m, 'Type') ?? '').toLowerCase(),
        source: String(field(m, 'Source') ?? ''),
        target: String(field(m, 'Target') ?? ''),
        readOnly: field(m, 'ReadOnly') === true,
        options: typeof propagation === 'string' && propagation !== '' ? [propagation] : [],
        raw: m,
      });
    }
  }
  return out;
}

/**
 * Writes mounts back: what is still a plain bind or named volume with no extra fields into `Binds`, the rest
 * into `Mounts`.
 *
 * @param hc - the `HostConfig` to change
 * @param binds - the `Binds` strings
 * @param mounts - the `Mounts` objects
 * @example
 * ```ts
 * writeMounts(hc, ['/srv/data:/data:ro'], [{ Type: 'volume', Source: 'project', Target: '/p' }]);
 * ```
 */
export function writeMounts(hc: JsonObject, binds: string[], mounts: JsonObject[]): void {
  setField(hc, 'Binds', binds.length > 0 ? binds : undefined);
  setField(hc, 'Mounts', mounts.length > 0 ? mounts : undefined);
}

/**
 * Cleans an absolute host path as the engine cleans a bind's source (Go's `filepath.Clean`: `.` and `..` segments
 * and repeated slashes resolved by their text, no trailing slash), so that every check reads the path the engine
 * will: `/home/coder/project/sub/../shared` is the project's `shared`, and `/home/coder/project/../../etc` is
 * `/etc`, refused as `/etc` is (found by review, stop 23: all three were refused, where `-v $PWD/../shared:/x`
 * from a project subdirectory works on the engine). Refuses a relative path, NUL bytes and backslashes.
 *
 * @param path - the path as the client sent it
 * @returns the cleaned path
 * @throws {@link @dockhand/core!DockhandError} `DOCKHAND_MOUNT_REFUSED`
 * @example
 * ```ts
 * cleanHostPath('/home/coder/project/sub/../shared/'); // '/home/coder/project/shared'
 * ```
 */
export function cleanHostPath(path: string): string {
  if (!path.startsWith('/'))
    throw refuse('DOCKHAND_MOUNT_REFUSED', `mount source '${path}' is not an absolute path`);
  if (/\0|\\/.test(path))
    throw refuse('DOCKHAND_MOUNT_REFUSED', `mount source '${path}' is not a plain path (NUL, '\\')`);
  return cleanPath(path);
}

/**
 * A path cleaned by its text as Go's `filepath.Clean` cleans it: `.` and `..` segments and repeated slashes
 * resolved, no trailing slash (the engine compares mount points, and reads bind sources, so).
 *
 * @param path - a path
 * @returns the cleaned path
 * @example
 * ```ts
 * cleanPath('/data//x/../'); // '/data'
 * ```
 */
export function cleanPath(path: string): string {
  const clean = posix.normalize(path);
  return clean.length > 1 ? clean.replace(/\/$/, '') : clean;
}

/**
 * Whether a clean path is a directory or lies under it.
 *
 * @param path - a clean absolute path
 * @param dir - a clean absolute directory
 * @returns the path below `dir` (`''` for `dir` itself), or `undefined`
 * @example
 * ```ts
 * under('/home/coder/project/dev/db', '/home/coder/project'); // 'dev/db'
 * ```
 */
export function under(path: string, dir: string): string | undefined {
  const d = posix.normalize(dir).replace(/\/$/, '');
  if (path === d) return '';
  if (path.startsWith(`${d}/`)) return path.slice(d.length + 1);
  return undefined;
}

/**
 * The host paths this request's own rewrites produced (the proxy's socket, a volume's mountpoint on old engines):
 * mount checks later in the pipeline let exactly these through.
 *
 * @param state - `ctx.state`
 * @returns the set, created on first use
 * @internal
 */
export function sanctionedBinds(state: Record<string, unknown>): Set<string> {
  let set = state['dockhand.sanctionedBinds'] as Set<string> | undefined;
  if (!set) {
    set = new Set<string>();
    state['dockhand.sanctionedBinds'] = set;
  }
  return set;
}

/**
 * Writes a mount back as a `Binds` entry: `source:target[:options]`, or `target` alone for an anonymous volume.
 *
 * @param m - the mount
 * @returns the entry
 * @example
 * ```ts
 * bindSpec(parseBind('/srv/data:/data:ro')); // '/srv/data:/data:ro'
 * ```
 */
export function bindSpec(m: Pick<MountEntry, 'source' | 'target' | 'readOnly' | 'options'>): string {
  const opts = [...(m.readOnly ? ['ro'] : []), ...m.options];
  return m.source === '' ? m.target : `${m.source}:${m.target}${opts.length ? `:${opts.join(',')}` : ''}`;
}
