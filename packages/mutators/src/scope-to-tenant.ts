import { type Context, compose, type Middleware, on } from '@dockhand/core';
import { notFound, refuse } from './errors.ts';
import { checkedBody, field, isObject, type JsonObject, setField } from './fields.ts';
import { injectLabelFilter } from './filters.ts';
import { type ImagePolicy, imageVisible } from './image-policy.ts';
import { Ownership } from './ownership.ts';
import { carries, parseLabel, type TenantLabel } from './tenant.ts';

/** Options of {@link scopeToTenant}. */
export interface ScopeOptions {
  /** The tenant label, `key=value` or an object. */
  readonly label: string | TenantLabel;
  /** Objects of others the tenant may use (not see in lists, not change): e.g. a shared network. */
  readonly shared?: { readonly networks?: readonly string[]; readonly volumes?: readonly string[] };
  /** The image policy (default: base images shared read-only, the tenant's own builds its own). */
  readonly images?: ImagePolicy;
  /** A shared ownership cache (one per tenant); created when left out. */
  readonly ownership?: Ownership;
}

const CONTAINER_OPS = [
  'ContainerInspect',
  'ContainerTop',
  'ContainerLogs',
  'ContainerChanges',
  'ContainerExport',
  'ContainerStats',
  'ContainerResize',
  'ContainerStart',
  'ContainerStop',
  'ContainerRestart',
  'ContainerKill',
  'ContainerUpdate',
  'ContainerRename',
  'ContainerPause',
  'ContainerUnpause',
  'ContainerAttach',
  'ContainerAttachWebsocket',
  'ContainerWait',
  'ContainerDelete',
  'ContainerArchiveInfo',
  'ContainerArchive',
  'PutContainerArchive',
  'ContainerExec',
] as const;
const NETWORK_OPS = ['NetworkInspect', 'NetworkDelete', 'NetworkConnect', 'NetworkDisconnect'] as const;
const VOLUME_OPS = ['VolumeInspect', 'VolumeUpdate', 'VolumeDelete'] as const;
const EXEC_OPS = ['ExecStart', 'ExecResize', 'ExecInspect'] as const;
const DEFAULT_NETWORKS = new Set(['default', 'bridge', 'none', 'host', '']);

/**
 * The tenant sees and acts on only what carries its label, on every route that names an object:
 * - lists (containers, volumes, networks, images, prune, `system/df`) get the label filter injected upstream and
 *   are filtered again on the way back;
 * - every `{id}` or name is resolved to the full id of one of the tenant's objects, or refused with the
 *   daemon's own 404 wording, and the full id is forwarded;
 * - `exec/{id}` only for execs of the tenant's containers; events only the tenant's, filtered per message;
 * - objects named inside a create body (`container:<x>` modes, `VolumesFrom`, `Links`, network endpoints) must
 *   be the tenant's or shared.
 *
 * @param options - the tenant label, shared objects, image policy
 * @returns the middleware
 * @example
 * ```ts
 * createProxy({ upstream, middleware: [scopeToTenant({ label: 'dockhand.tenant=alice', shared: { networks: ['workshop'] } })] });
 * ```
 */
export function scopeToTenant(options: ScopeOptions): Middleware {
  const label = parseLabel(options.label);
  const labelSpec = `${label.key}=${label.value}`;
  const sharedNetworks = new Set(options.shared?.networks ?? []);
  const images: ImagePolicy = options.images ?? {};
  let owners = options.ownership;
  const ownership = (ctx: Context): Ownership => {
    owners ??= new Ownership(label, ctx.upstream, ctx.log);
    owners.watch();
    return owners;
  };

  const network = async (ctx: Context, ref: string): Promise<string> => {
    if (sharedNetworks.has(ref)) return ref;
    return ownership(ctx).network(ref);
  };

  const lists: Middleware = on(
    [
      'ContainerList',
      'VolumeList',
      'NetworkList',
      'ContainerPrune',
      'VolumePrune',
      'NetworkPrune',
      'ImagePrune',
    ],
    async (ctx, next) => {
      injectLabelFilter(ctx.request.query, labelSpec);
      await next();
      const res = ctx.response!;
      if (res.status !== 200 || ctx.operation?.endsWith('Prune')) return;
      const body = await res.json<unknown>();
      if (ctx.operation === 'VolumeList') {
        const v = body as { Volumes?: { Labels?: Record<string, string> | null }[] | null };
        res.setJson({ ...v, Volumes: (v.Volumes ?? []).filter((x) => carries(x.Labels, label)) });
      } else if (Array.isArray(body)) {
        res.setJson(body.filter((x: { Labels?: Record<string, string> | null }) => carries(x.Labels, label)));
      } else {
        res.setJson([]);
      }
    },
  );

  const imageList: Middleware = on('ImageList', async (ctx, next) => {
    await next();
    const res = ctx.response!;
    if (res.status !== 200) return;
    const list = await res.json<{ Labels?: Record<string, string> | null }[]>();
    res.setJson((list ?? []).filter((img) => imageVisible(img.Labels, label, images)));
  });

  const dataUsage: Middleware = on('SystemDataUsage', async (ctx, next) => {
    await next();
    const res = ctx.response!;
    if (res.status !== 200) return;
    const df = await res.json<Record<string, unknown>>();
    const mine = (xs: unknown) =>
      Array.isArray(xs)
        ? xs.filter((x: { Labels?: Record<string, string> | null }) => carries(x.Labels, label))
        : [];
    res.setJson({
      ...df,
      Containers: mine(df.Containers),
      Volumes: mine(df.Volumes),
      Images: Array.isArray(df.Images)
        ? df.Images.filter((x: { Labels?: Record<string, string> | null }) =>
            imageVisible(x.Labels, label, images),
          )
        : [],
      BuildCache: [],
    });
  });

  const events: Middleware = on('SystemEvents', async (ctx, next) => {
    const own = ownership(ctx);
    await next();
    if (ctx.response!.status !== 200) return;
    ctx.response!.transformJsonLines((m) => {
      const e = m as { Type?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
      const attrs = e.Actor?.Attributes ?? {};
      const id = e.Actor?.ID ?? '';
      if (attrs[label.key] === label.value) return m;
      if (e.Type === 'network') {
        if (own.knownOwned('network', id)) return m;
        return undefined;
      }
      if (e.Type === 'volume' && own.knownOwned('volume', id)) return m;
      if (e.Type === 'container' && own.knownOwned('container', id)) return m;
      return undefined;
    });
  });

  const containers: Middleware = on(CONTAINER_OPS, async (ctx, next) => {
    const id = await ownership(ctx).container(ctx.params.id!);
    ctx.params.id = id;
    await next();
    if (ctx.operation === 'ContainerExec' && ctx.response!.status === 201) {
      const exec = await ctx.response!.json<{ Id: string }>();
      ownership(ctx).rememberExec(exec.Id, id);
    }
  });

  const networks: Middleware = on(NETWORK_OPS, async (ctx, next) => {
    const ref = ctx.params.id!;
    if (sharedNetworks.has(ref) && ctx.operation !== 'NetworkDelete' && ctx.operation !== 'NetworkInspect') {
      // connecting one's own container to a shared network is allowed; the network itself stays read-only
    } else {
      ctx.params.id = await ownership(ctx).network(ref);
    }
    if (ctx.operation === 'NetworkConnect' || ctx.operation === 'NetworkDisconnect') {
      const body = await checkedBody(() => ctx.request.json());
      const c = field(body, 'Container');
      if (typeof c !== 'string') throw refuse('DOCKHAND_FOREIGN_REFERENCE', 'a container is required');
      setField(body, 'Container', await ownership(ctx).container(c));
      ctx.request.setJson(body);
    }
    await next();
  });

  const volumes: Middleware = on(VOLUME_OPS, async (ctx, next) => {
    ctx.params.name = await ownership(ctx).volume(ctx.params.name!);
    await next();
  });

  const execs: Middleware = on(EXEC_OPS, async (ctx, next) => {
    ctx.params.id = await ownership(ctx).exec(ctx.params.id!);
    await next();
  });

  const images_: Middleware = on(
    ['ImageInspect', 'ImageHistory', 'ImageGet', 'ImageDelete', 'ImageTag', 'ImagePush'],
    async (ctx, next) => {
      const ref = ctx.params.name!;
      const reply = await ctx.upstream.request({ path: `/images/${encodeURIComponent(ref)}/json` });
      if (reply.status !== 200) {
        await reply.text();
        await next(); // the daemon's own error (no such image)
        return;
      }
      const img = await reply.json<{ Id: string; Config?: { Labels?: Record<string, string> | null } }>();
      const labels = img.Config?.Labels;
      if (!imageVisible(labels, label, images)) throw notFound('image', ref);
      if (ctx.operation === 'ImageDelete' || ctx.operation === 'ImageTag' || ctx.operation === 'ImagePush') {
        if (!carries(labels, label) && !images.allowChangingShared) {
          throw refuse(
            'DOCKHAND_IMAGE_POLICY',
            `image ${ref} is shared with everyone on this engine: you can use it, but only images you built can be ${ctx.operation === 'ImageTag' ? 're-tagged' : ctx.operation === 'ImagePush' ? 'pushed' : 'deleted'}`,
          );
        }
      }
      if (ctx.operation === 'ImageTag')
        await checkTagTarget(
          ctx,
          `${ctx.request.query.get('repo') ?? ''}:${ctx.request.query.get('tag') || 'latest'}`,
        );
      await next();
    },
  );

  /** Refuses a tag that would move a name another tenant's (or a shared) image holds. */
  const checkTagTarget = async (ctx: Context, ref: string): Promise<void> => {
    if (ref.startsWith(':')) return;
    const reply = await ctx.upstream.request({ path: `/images/${encodeURIComponent(ref)}/json` });
    if (reply.status !== 200) {
      await reply.text();
      return;
    }
    const img = await reply.json<{ Config?: { Labels?: Record<string, string> | null } }>();
    if (!carries(img.Config?.Labels, label) && !images.allowChangingShared) {
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `the tag ${ref} belongs to an image you did not build; pick another name`,
      );
    }
  };

  const build: Middleware = on('ImageBuild', async (ctx, next) => {
    for (const t of ctx.request.query.getAll('t'))
      await checkTagTarget(ctx, t.includes(':') ? t : `${t}:latest`);
    await next();
  });

  const commit: Middleware = on('ImageCommit', async (ctx, next) => {
    const c = ctx.request.query.get('container');
    if (!c) throw refuse('DOCKHAND_FOREIGN_REFERENCE', 'a container is required');
    ctx.request.query.set('container', await ownership(ctx).container(c));
    const repo = ctx.request.query.get('repo');
    if (repo) await checkTagTarget(ctx, `${repo}:${ctx.request.query.get('tag') || 'latest'}`);
    await next();
  });

  const buildPrune: Middleware = on('BuildPrune', async () => {
    throw refuse(
      'DOCKHAND_ROUTE_DENIED',
      'the build cache is shared with everyone on this engine and cannot be pruned from here',
    );
  });

  const create: Middleware = on('ContainerCreate', async (ctx, next) => {
    const own = ownership(ctx);
    const body = await checkedBody(() => ctx.request.json());
    const image = field(body, 'Image');
    if (typeof image === 'string' && image !== '') {
      const reply = await ctx.upstream.request({ path: `/images/${encodeURIComponent(image)}/json` });
      if (reply.status === 200) {
        const img = await reply.json<{ Config?: { Labels?: Record<string, string> | null } }>();
        if (!imageVisible(img.Config?.Labels, label, images)) throw notFound('image', image);
      } else {
        await reply.text();
      }
    }
    const hc = field(body, 'HostConfig');
    if (isObject(hc)) {
      for (const mode of ['NetworkMode', 'PidMode', 'IpcMode']) {
        const v = field(hc, mode);
        if (typeof v === 'string' && v.startsWith('container:')) {
          setField(hc, mode, `container:${await own.container(v.slice('container:'.length))}`);
        } else if (mode === 'NetworkMode' && typeof v === 'string' && !DEFAULT_NETWORKS.has(v)) {
          await network(ctx, v);
        }
      }
      const from = field(hc, 'VolumesFrom');
      if (Array.isArray(from)) {
        const out: string[] = [];
        for (const entry of from) {
          const [ref, mode] = String(entry).split(':');
          const id = await own.container(ref ?? '');
          out.push(mode ? `${id}:${mode}` : id);
        }
        setField(hc, 'VolumesFrom', out);
      }
      const links = field(hc, 'Links');
      if (Array.isArray(links)) {
        const out: string[] = [];
        for (const entry of links) {
          const s = String(entry);
          const colon = s.indexOf(':');
          const ref = colon === -1 ? s : s.slice(0, colon);
          const alias = colon === -1 ? ref : s.slice(colon + 1);
          await own.container(ref.replace(/^\//, ''));
          out.push(`${ref}:${alias}`);
        }
        setField(hc, 'Links', out);
      }
    }
    const nc = field(body, 'NetworkingConfig');
    const endpoints = isObject(nc) ? field(nc, 'EndpointsConfig') : undefined;
    if (isObject(endpoints)) {
      for (const [net, ep] of Object.entries(endpoints)) {
        if (!DEFAULT_NETWORKS.has(net)) await network(ctx, net);
        const epLinks = field(ep, 'Links');
        if (Array.isArray(epLinks)) {
          for (const l of epLinks) await own.container(String(l).split(':')[0]!.replace(/^\//, ''));
        }
      }
    }
    ctx.request.setJson(body);
    await next();
    if (ctx.response!.status === 201)
      own.remember('container', (await ctx.response!.json<{ Id: string }>()).Id);
  });

  const remember: Middleware = on(['NetworkCreate', 'VolumeCreate'], async (ctx, next) => {
    await next();
    const res = ctx.response!;
    if (res.status !== 201) return;
    const created = await res.json<JsonObject>();
    if (ctx.operation === 'NetworkCreate') ownership(ctx).remember('network', String(field(created, 'Id')));
    else {
      // VolumeCreate answers with an existing volume of that name instead of failing: it must be the tenant's
      const labels = field(created, 'Labels') as Record<string, string> | null;
      if (!carries(labels, label)) {
        throw refuse(
          'DOCKHAND_FOREIGN_REFERENCE',
          `volume name ${String(field(created, 'Name'))} is already in use`,
        );
      }
      ownership(ctx).remember('volume', String(field(created, 'Name')));
    }
  });

  return compose([
    lists,
    imageList,
    dataUsage,
    events,
    containers,
    networks,
    volumes,
    execs,
    images_,
    build,
    commit,
    buildPrune,
    create,
    remember,
  ]);
}
