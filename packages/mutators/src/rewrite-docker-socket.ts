import { posix } from 'node:path';
import { compose, type Middleware, on } from '@dockhand/core';
import { engineApiVersion, versionAtLeast } from './engine-version.ts';
import { refuse } from './errors.ts';
import { checkedBody, child, type JsonObject } from './fields.ts';
import { bindSpec, readMounts, sanctionedBinds, writeMounts } from './mounts.ts';

/** Where the proxy's own socket is, for containers: a volume and the socket's path in it, or a host path. */
export type SocketTarget = { readonly volume: string; readonly subpath: string } | { readonly path: string };

/** Options of {@link rewriteDockerSocket}. */
export interface RewriteSocketOptions {
  /** Host paths that mean the daemon socket (default `/var/run/docker.sock`, `/run/docker.sock`). */
  readonly socketPaths?: readonly string[];
  /** The proxy's socket. */
  readonly target: SocketTarget;
}

const DEFAULT_SOCKETS = ['/var/run/docker.sock', '/run/docker.sock'];
/** Directories that hold the engine's sockets or state: a bind of any of them (or of what holds them) is refused. */
const GUARDED = [
  '/var/run',
  '/run',
  '/var/lib/docker',
  '/run/containerd',
  '/var/run/containerd',
  '/run/docker',
  '/var/run/docker',
];

/**
 * Turns a bind of the daemon socket into a mount of the proxy's own socket, so that nested tools (testcontainers'
 * Ryuk, `docker` inside a container) are proxied too. The socket is recognised in any spelling
 * (`/var/run/docker.sock`, `/run/docker.sock`, with `..` or `//`). Binds of the directories that hold it, of
 * `/var/lib/docker`, or of the containerd socket are refused. The mount is read-only whatever the client asked
 * (a socket is reached through a read-only mount as well), so that no container changes what holds the socket.
 *
 * @param options - the socket paths and the proxy's socket
 * @returns the middleware
 * @example
 * ```ts
 * rewriteDockerSocket({ target: { volume: 'alice_dockhand-socket', subpath: 'docker.sock' } });
 * ```
 */
export function rewriteDockerSocket(options: RewriteSocketOptions): Middleware {
  // a subpath that leaves the volume would be a bind outside it on engines before API 1.45, which mount the
  // socket by its host path (found by review, stop 26: not checked)
  if ('subpath' in options.target) {
    const sub = options.target.subpath;
    if (sub === '' || sub.startsWith('/') || sub.split('/').some((part) => part === '..' || part === '.'))
      throw new TypeError(`rewriteDockerSocket(): target.subpath '${sub}' must be a path inside the volume`);
  }
  const sockets = new Set((options.socketPaths ?? DEFAULT_SOCKETS).map((p) => posix.normalize(p)));
  const guarded = (p: string) =>
    p === '/' ||
    p === '/var' ||
    GUARDED.some((g) => p === g || p.startsWith(`${g}/`) || g.startsWith(`${p}/`));

  return compose([
    on('ContainerCreate', async (ctx, next) => {
      const body = await checkedBody(() => ctx.request.json());
      const hc = child(body, 'HostConfig');
      const binds: string[] = [];
      const mounts: JsonObject[] = [];
      let changed = false;
      for (const m of readMounts(hc)) {
        const source =
          m.type === 'bind' ? posix.normalize(m.source.replace(/\/+/g, '/')).replace(/(.)\/$/, '$1') : '';
        if (m.type === 'bind' && sockets.has(source)) {
          changed = true;
          if ('volume' in options.target) {
            const engine = await engineApiVersion(ctx.upstream);
            if (versionAtLeast(engine, '1.45')) {
              if (ctx.apiVersion !== undefined && !versionAtLeast(ctx.apiVersion, '1.45'))
                ctx.apiVersion = '1.45';
              // read-only whatever the client asked: a socket is reached as well through a read-only mount, and
              // nothing in the volume is the tenant's to change
              mounts.push({
                Type: 'volume',
                Source: options.target.volume,
                Target: m.target,
                ReadOnly: true,
                VolumeOptions: { Subpath: options.target.subpath },
              });
            } else {
              const reply = await ctx.upstream.request({
                path: `/volumes/${encodeURIComponent(options.target.volume)}`,
              });
              const vol = await reply.json<{ Mountpoint: string }>();
              const hostPath = posix.join(vol.Mountpoint, options.target.subpath);
              sanctionedBinds(ctx.state).add(hostPath);
              binds.push(`${hostPath}:${m.target}:ro`);
            }
          } else {
            sanctionedBinds(ctx.state).add(options.target.path);
            binds.push(`${options.target.path}:${m.target}:ro`);
          }
          continue;
        }
        if (m.type === 'bind' && (guarded(source) || /containerd\.sock$|docker\.sock$/.test(source))) {
          throw refuse(
            'DOCKHAND_MOUNT_REFUSED',
            `bind-mounting ${m.source} is not allowed: it holds the engine's sockets or state`,
          );
        }
        if (m.from === 'Mounts' && m.raw) mounts.push(m.raw);
        else binds.push(bindSpec(m));
      }
      if (changed) {
        writeMounts(hc, binds, mounts);
        ctx.request.setJson(body);
      }
      await next();
    }),
  ]);
}
