import {
  type Context,
  compose,
  DockhandError,
  type Middleware,
  type OperationId,
  on,
  untouchedWhen,
} from '@dockhand/core';
import { onBuildInstructions, onBuildReads } from './build-context.ts';
import { classicBuild, pinClassicBuild } from './classic-build.ts';
import { type ContainerFacts, containerFacts } from './container-facts.ts';
import { createImage, imageFacts, scopeImageReads } from './create-image.ts';
import { engineList } from './engine-list.ts';
import { engineApiVersion, versionAtLeast } from './engine-version.ts';
import { daemonImageName, imageNotFound, killNotFound, refuse, saveNotFound } from './errors.ts';
import { type EngineEvent, eventFilter } from './event-filters.ts';
import { exportNames, refuseTooManyNames } from './export-names.ts';
import { checkedBody, field, isObject, type JsonObject, setField } from './fields.ts';
import { injectLabelFilter, rewriteFilterRefs, scopeFilters } from './filters.ts';
import { refuseIdLikeImageName, refuseIdLikeName } from './id-like-name.ts';
import { isImageImport } from './image-import.ts';
import { type ListedImage, pickImages, splitImageFilters } from './image-list-filters.ts';
import {
  type ImageFacts,
  type ImagePolicy,
  imageVisible,
  refuseReserved,
  reservedName,
} from './image-policy.ts';
import { familiarName, normaliseReference, repositoryOf, repoTag } from './image-reference.ts';
import { HELPER_LABEL } from './missing-subpaths.ts';
import { holdNames } from './name-holds.ts';
import { pruneOwn } from './own-prune.ts';
import { FULL_ID, Ownership } from './ownership.ts';
import { registryOf, resolvesHostLocal } from './registry-host.ts';
import { refuseLabelInstructions } from './stamp-labels.ts';
import { carries, parseLabel, type TenantLabel } from './tenant.ts';

/** Options of {@link scopeToTenant}. */
export interface ScopeOptions {
  /** The tenant label, `key=value` or an object. */
  readonly label: string | TenantLabel;
  /**
   * Objects of others the tenant may use (not see in lists, not change): e.g. a shared network. On a shared
   * network the tenant's containers join only under names and host names `<tenant>-...`, so a tenant that shares
   * networks needs a name of lower-case letters, digits, `_` and `.` (no `-`).
   */
  readonly shared?: { readonly networks?: readonly string[]; readonly volumes?: readonly string[] };
  /**
   * Networks made for this tenant alone, by its operator (e.g. a workshop instance's network, the tenant's
   * `network` in {@link workshopTenant}): usable as shared ones, read-only, and since no other tenant's containers
   * are on them, with names and addresses of the tenant's choosing (aliases, links).
   */
  readonly tenantNetworks?: readonly string[];
  /** The image policy (default: base images shared read-only, the tenant's own builds its own). */
  readonly images?: ImagePolicy;
  /**
   * A shared ownership cache (one per tenant); created when left out. One made without an engine is connected to
   * the proxy's on the first request.
   */
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
 * The most bytes of a tenant's events kept for a client that does not keep up with them; later ones are dropped
 * until it catches up, as the engine drops them (after 1,024 events and 100 ms each).
 */
const EVENTS_BEHIND_MAX = 1024 * 1024;

/**
 * The most bytes of a container's stats (about 2 KiB a second each) kept for a client that does not keep up with
 * them; later ones are dropped until it catches up. The engine's stats collector, shared by every container on it,
 * waits 100 ms for each stream of a container that has not taken 1,024 of them, as its events do.
 */
const STATS_BEHIND_MAX = 256 * 1024;

/** The largest list answer whose bytes are kept to recognise the same answer again (see `ownAnswers`). */
const OWN_ANSWER_MAX = 1024 * 1024;

/** The networks every engine has, which no tenant owns. */
const ENGINE_NETWORKS = new Set(['bridge', 'none', 'host']);

/**
 * A tenant name that can share networks: with no `-` and no capitals, no tenant's `<name>-` prefix is a prefix of
 * another's, in DNS's letter case too.
 */
const SHARED_TENANT_NAME = /^[a-z0-9][a-z0-9_.]*$/;

/**
 * The tenant sees and acts on only what carries its label, on every route that names an object:
 * - lists (containers, volumes, networks, images, prune, `system/df`) get the label filter injected upstream and
 *   are filtered again on the way back;
 * - every `{id}` or name is resolved to the full id of one of the tenant's objects, or refused with the
 *   daemon's own 404 wording, and the full id is forwarded;
 * - `exec/{id}` only for execs of the tenant's containers; events only the tenant's, filtered per message;
 * - `/info` counts the tenant's containers (running, paused, stopped) and the images it can see;
 * - objects named inside a create body (`container:<x>` modes, `VolumesFrom`, `Links`, network endpoints) must
 *   be the tenant's or shared;
 * - images: another tenant's builds look missing (also in `/images/get?names=`); tags, commits, imports and builds
 *   may not take a name a shared or foreign image holds; `/images/load` is refused (an archive brings its own
 *   names and labels).
 *
 * @param options - the tenant label, shared objects, image policy
 * @returns the middleware
 * @throws TypeError when the tenant shares networks (`shared.networks`) and its name holds anything but lower-case
 *   letters, digits, `_` and `.`: its containers join those networks as `<tenant>-...`, and a name with a `-` or
 *   capitals could extend or spell another tenant's (`alice` and `alice-2`)
 * @example
 * ```ts
 * createProxy({ upstream, middleware: [scopeToTenant({ label: 'dockhand.tenant=alice', shared: { networks: ['workshop'] } })] });
 * ```
 */
export function scopeToTenant(options: ScopeOptions): Middleware {
  const label = parseLabel(options.label);
  const labelSpec = `${label.key}=${label.value}`;
  const tenantNetworks = new Set(options.tenantNetworks ?? []);
  const sharedNetworks = new Set([...(options.shared?.networks ?? []), ...tenantNetworks]);
  // on a network others share, the tenant's containers join under names `<tenant>-...`: a tenant whose name
  // extended another's with a dash took names in the other's space (`alice` named `alice-2-web`, found by review,
  // stop 21), and DNS, where those names are looked up, reads capitals as small letters
  if ((options.shared?.networks ?? []).length > 0 && !SHARED_TENANT_NAME.test(label.value))
    throw new TypeError(
      `scopeToTenant(): tenant '${label.value}' shares networks with other tenants, where its containers are named '${label.value}-...': its name may hold only lower-case letters, digits, '_' and '.', so that no tenant's names extend or spell another's`,
    );
  /** A network other tenants' containers are on too, where an endpoint takes no names or addresses. */
  const othersOn = (net: string): boolean => sharedNetworks.has(net) && !tenantNetworks.has(net);
  const images: ImagePolicy = options.images ?? {};
  let owners = options.ownership;
  const ownership = (ctx: Context): Ownership => {
    owners ??= new Ownership(label, ctx.upstream, ctx.log);
    // a cache given without an engine is bound to this proxy's (a no-op once bound)
    owners.connect(ctx.upstream, ctx.log);
    owners.watch();
    return owners;
  };

  const network = async (ctx: Context, ref: string): Promise<string> => {
    if (sharedNetworks.has(ref)) return ref;
    return ownership(ctx).network(ref);
  };

  /**
   * An endpoint's `NetworkID`: the daemon joins the network it names rather than the one the request names (for
   * user-defined networks, moby's `getNetworkID`), so it must be one of the tenant's (or shared) too, and goes on
   * as the network resolved.
   */
  const endpointNetwork = async (ctx: Context, endpoint: unknown, resolvedKey: string): Promise<void> => {
    if (!isObject(endpoint)) return;
    const id = field(endpoint, 'NetworkID');
    if (id === undefined || id === null || id === '') return;
    if (typeof id !== 'string')
      throw refuse('DOCKHAND_FOREIGN_REFERENCE', 'an endpoint NetworkID must be a string');
    const resolved = DEFAULT_NETWORKS.has(id) ? id : await network(ctx, id);
    // it must be the network the endpoint is for: another one, the engine joins without the checks that network
    // takes (a shared network's, found by review, stop 21: aliases there, under an endpoint of the tenant's own)
    if (resolved !== resolvedKey)
      throw refuse('DOCKHAND_FOREIGN_REFERENCE', `an endpoint's NetworkID must name the network it is for`);
    setField(endpoint, 'NetworkID', resolved);
  };

  // For each list, the last answer of the engine in which every item carried the tenant's label, as its bytes (a
  // copy). A client polls its list (an IDE's Docker view, `watch docker ps`) and mostly gets the same bytes again:
  // those are forwarded without parsing them again (JSON.parse of a list of 20 containers, 14 KB, took about
  // 26 µs of the proxy's CPU, and its garbage more). The check is the same: the verdict on the same bytes, for
  // this tenant's label, which never changes. Any other answer is read and checked in full.
  const ownAnswers = new Map<OperationId, Buffer>();

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
      // from the tenant's own list: the engine's walked every container on it, and waited on any of them
      if (
        (ctx.operation === 'ContainerPrune' || ctx.operation === 'NetworkPrune') &&
        (await pruneOwn(ctx, label, ownership(ctx)))
      )
        return;
      // (network lists too: only the tenant's own are listed, not the engine's `bridge`, `host` and `none` nor
      // shared networks, which `network inspect` reaches: see docs/configuration.md)
      if (ctx.operation === 'ContainerList') {
        const container = (ref: string) => ownership(ctx).container(ref);
        // the label filter added and the references rewritten in one reading of the client's filters
        const filters = await scopeFilters(ctx.request.query.get('filters'), labelSpec, {
          before: container,
          since: container,
          // `ancestor` names an image the engine looks up among all its images: the time of its answer told a
          // hidden image's id prefix from none (found by review, stop 24: a 12-digit id walked in 11 s). Looked up
          // among the images the tenant sees; one it does not see goes on as an id no image has (matching
          // nothing, as the engine's own answer for a missing one), so that hidden and missing cost the same
          ancestor: async (ref) => {
            const { img } = await imageLookup(ctx, ref);
            return img && imageVisible(img.facts, label, images) ? img.id : NO_IMAGE;
          },
        });
        ctx.request.query.set('filters', filters);
      } else injectLabelFilter(ctx.request.query, labelSpec);
      await next();
      const res = ctx.response!;
      if (res.status === 200 && ctx.operation === 'VolumePrune') {
        const pruned = await res.json<{ VolumesDeleted?: string[] | null }>();
        for (const name of pruned.VolumesDeleted ?? []) ownership(ctx).forget('volume', name);
      }
      if (res.status !== 200 || ctx.operation?.endsWith('Prune')) return;
      const op = ctx.operation!;
      const bytes = await res.buffer();
      // the very bytes of an answer found to hold only the tenant's objects: they hold the same objects again
      if (ownAnswers.get(op)?.equals(bytes)) return;
      const body = await res.json<unknown>();
      // the daemon's own bytes go out when its filter already left only the tenant's objects (the usual case)
      let own: boolean;
      if (op === 'VolumeList') {
        const v = body as { Volumes?: { Labels?: Record<string, string> | null }[] | null };
        const kept = (v.Volumes ?? []).filter((x) => carries(x.Labels, label));
        own = kept.length === v.Volumes?.length;
        if (!own) res.setJson({ ...v, Volumes: kept });
      } else if (Array.isArray(body)) {
        const kept = body.filter((x: { Labels?: Record<string, string> | null }) => carries(x.Labels, label));
        own = kept.length === body.length;
        if (!own) res.setJson(kept);
      } else {
        own = false;
        res.setJson([]);
      }
      // a copy: what is kept must stay the bytes that were checked, whatever later writes into the body's buffer
      if (own && bytes.length <= OWN_ANSWER_MAX) ownAnswers.set(op, Buffer.from(bytes));
      else ownAnswers.delete(op);
    },
  );

  const imageList: Middleware = on('ImageList', async (ctx, next) => {
    const query = ctx.request.query;
    // the daemon reads the first `filters`
    const image = async (ref: string) => {
      const { img } = await imageLookup(ctx, ref);
      if (!img || !imageVisible(img.facts, label, images)) throw await imageMissing(ctx, ref);
      return img.id;
    };
    const filters = await rewriteFilterRefs(query.get('filters'), { before: image, since: image });
    // the filters that pick images by label or name are evaluated here, over the images the tenant sees; before
    // API 1.41 the daemon reads a `filter` parameter as one more `reference` (later ones ignore it)
    const legacy = query.get('filter');
    query.delete('filter');
    const { forward, picking } = splitImageFilters(
      filters,
      ctx.apiVersion !== undefined && !versionAtLeast(ctx.apiVersion, '1.41') ? legacy : null,
    );
    if (forward === null) query.delete('filters');
    else if (forward !== '') query.set('filters', forward);
    await next();
    const res = ctx.response!;
    if (res.status !== 200) return;
    const list = await res.json<(ImageFacts & ListedImage)[]>();
    const kept = Array.isArray(list) ? list.filter((img) => imageVisible(img, label, images)) : [];
    // always written anew: the engine's own bytes (which end in a newline) went out only when nothing was hidden
    res.setJson(pickImages(kept, picking));
  });

  // `docker system df` is answered from the tenant's own lists, never forwarded: the engine's answer walks every
  // volume and every container's layer on the engine, and its time followed how many files the other tenants had
  // written (found by review, stop 24: 25 ms, then 112 ms with 40,000 files in another tenant's volume). An
  // image's count of containers and the size of all layers are counted from what the tenant sees too (the engine's
  // would show how many containers the other tenants run from each image, and how much they built). A volume's
  // size is unknown (-1, which the CLI shows as N/A): only that walk measures one
  const dataUsage: Middleware = on('SystemDataUsage', async (ctx) => {
    const types = ctx.request.query.getAll('type');
    const wanted = (type: string) => types.length === 0 || types.includes(type);
    const own = JSON.stringify({ label: [labelSpec] });
    const [containers, imageList, volumeList] = await Promise.all([
      wanted('container') || wanted('image') || wanted('volume')
        ? engineList<
            { ImageID?: string; Labels?: Record<string, string> | null; Mounts?: { Name?: string }[] }[]
          >(ctx.upstream, '/containers/json', {
            all: '1',
            size: wanted('container') ? '1' : '0',
            filters: own,
          })
        : [],
      wanted('image')
        ? engineList<(ImageFacts & { Id: string; Size?: number })[]>(ctx.upstream, '/images/json')
        : [],
      wanted('volume')
        ? engineList<{ Volumes?: { Name: string; Labels?: Record<string, string> | null }[] | null }>(
            ctx.upstream,
            '/volumes',
            { filters: own },
          )
        : { Volumes: [] },
    ]);
    const mine = containers.filter((c) => carries(c.Labels, label));
    const visible = imageList
      .filter((img) => imageVisible(img, label, images))
      .map((img) => ({
        ...img,
        SharedSize: -1,
        Containers: mine.filter((c) => c.ImageID === img.Id).length,
      }));
    const volumes = (volumeList.Volumes ?? [])
      .filter((v) => carries(v.Labels, label))
      .map((v) => ({
        ...v,
        UsageData: {
          Size: -1,
          RefCount: mine.filter((c) => c.Mounts?.some((m) => m.Name === v.Name)).length,
        },
      }));
    ctx.respond(200, {
      LayersSize: visible.reduce((sum, img) => sum + (typeof img.Size === 'number' ? img.Size : 0), 0),
      Images: wanted('image') ? visible : null,
      Containers: wanted('container') ? mine : null,
      Volumes: wanted('volume') ? volumes : null,
      BuildCache: wanted('build-cache') ? [] : null,
    });
  });

  // `docker info` counts the tenant's containers and the images it can see, not the engine's: the engine-wide
  // counts would show how many containers the other tenants have and when they start and stop them
  const info: Middleware = on('SystemInfo', async (ctx, next) => {
    await next();
    const res = ctx.response!;
    if (res.status !== 200) return;
    const body = await res.json<JsonObject>();
    const [listed, imageList] = await Promise.all([
      engineList<{ State?: string; Labels?: Record<string, string> | null }[]>(
        ctx.upstream,
        '/containers/json',
        {
          all: '1',
          filters: JSON.stringify({ label: [labelSpec] }),
        },
      ),
      engineList<ImageFacts[]>(ctx.upstream, '/images/json'),
    ]);
    const containers = listed.filter((c) => carries(c.Labels, label));
    const visibleImages = imageList.filter((img) => imageVisible(img, label, images));
    const running = containers.filter((c) => c.State === 'running').length;
    const paused = containers.filter((c) => c.State === 'paused').length;
    // the daemon's own debug counters move with every tenant's activity (an event listener, an attach, a build
    // open file descriptors and goroutines): left out, as the daemon leaves them out when they are unknown
    const { NFd: _fd, NGoroutines: _goroutines, NEventsListener: _listeners, ...rest } = body;
    res.setJson({
      ...rest,
      Containers: containers.length,
      ContainersRunning: running,
      ContainersPaused: paused,
      ContainersStopped: containers.length - running - paused,
      Images: visibleImages.length,
    });
  });

  // the client's filters are evaluated here, after the tenant's own check; only `type` goes on to the engine, whose
  // work then follows every tenant's events alike (the engine replayed what a filter on another tenant's id or name
  // prefix matched, and the time the proxy took to drop it told them apart: found by review, stop 25)
  const events: Middleware = on('SystemEvents', async (ctx, next) => {
    const own = ownership(ctx);
    const query = ctx.request.query;
    const raw = query.get('filters');
    const { pass: wanted, types } = eventFilter(raw);
    if (types.length > 0) query.set('filters', JSON.stringify({ type: types }));
    else query.delete('filters');
    // a replay (a `since`, or an `until` alone, which replays the engine's whole buffer: found by review, stop 25)
    // first learns the volume removals it covers
    const since = query.get('since');
    if (since || query.get('until')) {
      const failed = await own.learnVolumeRemovals(since || '0');
      // the engine refused the replay's `since` (it cannot parse it): its own answer
      if (failed) return ctx.respond(failed.status, failed.body);
      // and the volume names it holds are checked: one whose removal the watcher missed is another's by now
      await own.checkVolumes();
    }
    await next();
    if (ctx.response!.status !== 200) return;
    ctx.response!.transformJsonLines((m) => {
      const e = m as EngineEvent & { time?: number; timeNano?: number };
      return ownEvent(own, e) && wanted(e) ? m : undefined;
    });
    // the engine's stream is read at its pace, not the client's: a client that never read its events made every
    // event on the engine wait 100 ms, every tenant's (moby's publisher waits that long for a full subscriber)
    ctx.response!.dropWhenBehind(EVENTS_BEHIND_MAX);
  });

  /** Whether an event is one of the tenant's: by its label, or its object known to be the tenant's. */
  const ownEvent = (own: Ownership, e: EngineEvent & { time?: number; timeNano?: number }): boolean => {
    const attrs = e.Actor?.Attributes ?? {};
    const id = e.Actor?.ID ?? '';
    if (attrs[label.key] === label.value) return true;
    if (e.Type === 'network') {
      if (own.knownOwned('network', id)) return true;
      // the tenant's own containers joining and leaving a network of its own instance (`tenantNetworks`, which
      // carries no tenant label): the workshop's forwarder follows their addresses there (found by review, stop
      // 23: a container that left and joined again kept its old address in the forwarder until its resync)
      return tenantNetworks.has(attrs.name ?? '') && own.knownOwned('container', attrs.container ?? '');
    }
    if (e.Type === 'volume') return own.knownOwnedVolumeEvent(id, Number(e.time ?? 0), e.timeNano);
    return e.Type === 'container' && own.knownOwned('container', id);
  };

  // a request naming, by its full id, a container known to be the tenant's is forwarded as it is (ownership of a
  // full id never changes), so it may take the proxy's byte lane; an exec create is still seen (for its answer),
  // and so is a removal (the id leaves the cache at once, not when the engine's event arrives)
  const containers: Middleware = untouchedWhen(
    (req) =>
      req.operation !== 'ContainerExec' &&
      req.operation !== 'ContainerDelete' &&
      // a stats stream is read at the engine's pace, not the client's (below): never on the byte lane, which
      // passes the client's pace on
      req.operation !== 'ContainerStats' &&
      owners !== undefined &&
      FULL_ID.test(req.params.id ?? '') &&
      owners.knownOwned('container', req.params.id!),
    on(CONTAINER_OPS, async (ctx, next) => {
      const ref = ctx.params.id!;
      const id = await ownership(ctx)
        .container(ref)
        .catch(async (err: unknown) => {
          // in the words the engine's kill route gives a missing container
          if (ctx.operation === 'ContainerKill' && DockhandError.is(err) && err.status === 404)
            throw killNotFound(ref, await engineApiVersion(ctx.upstream));
          throw err;
        });
      ctx.params.id = id;
      await next();
      if (ctx.operation === 'ContainerExec' && ctx.response!.status === 201) {
        const exec = await ctx.response!.json<{ Id: string }>();
        ownership(ctx).rememberExec(exec.Id, id);
      } else if (ctx.operation === 'ContainerDelete' && ctx.response!.status < 300) {
        ownership(ctx).forget('container', id);
      } else if (ctx.operation === 'ContainerStats' && ctx.response!.status === 200) {
        // the engine's collector waits 100 ms a round for a stream that has not taken 1,024 stats, every
        // container's round with it: a client that never read its stats slowed every tenant's `docker stats`
        ctx.response!.dropWhenBehind(STATS_BEHIND_MAX);
      }
    }),
  );

  /**
   * Keeps only the tenant's containers in a network's `Containers` map: its own list, asked once (each entry
   * resolved on its own cost a list per other tenant's container, so the time of an inspect of `bridge` or a shared
   * network counted them: found by review, stop 25, 0.23 ms each).
   */
  const ownContainers = async (ctx: Context, containers: unknown): Promise<JsonObject> => {
    const out: JsonObject = {};
    if (!isObject(containers)) return out;
    const mine = await ownership(ctx).ownedIds('container');
    for (const [id, info] of Object.entries(containers)) if (mine.has(id)) out[id] = info;
    return out;
  };

  const networks: Middleware = on(NETWORK_OPS, async (ctx, next) => {
    const ref = ctx.params.id!;
    const readOnlyShared =
      sharedNetworks.has(ref) || (DEFAULT_NETWORKS.has(ref) && ref !== '' && ref !== 'default');
    if (readOnlyShared && ctx.operation === 'NetworkInspect') {
      // the engine's default networks and shared ones can be inspected (clients such as testcontainers read the
      // bridge gateway), but only the tenant's own containers on them are shown
      await next();
      if (ctx.response!.status === 200) {
        const net = await ctx.response!.json<JsonObject>();
        ctx.response!.setJson({ ...net, Containers: await ownContainers(ctx, field(net, 'Containers')) });
      }
      return;
    }
    // the engine's own networks are found by inspect, so a 404 for them misled (found by review, stop 25: `docker
    // network connect bridge <own>` answered `network bridge not found`)
    if (ENGINE_NETWORKS.has(ref) && !sharedNetworks.has(ref))
      throw refuse(
        'DOCKHAND_FOREIGN_REFERENCE',
        `the engine's network ${ref} is shared by every tenant and cannot be changed here: connect your containers to networks of your own`,
      );
    if (sharedNetworks.has(ref) && ctx.operation !== 'NetworkDelete') {
      // connecting one's own container to a shared network is allowed; the network itself stays read-only
    } else {
      ctx.params.id = await ownership(ctx).network(ref);
    }
    if (ctx.operation === 'NetworkConnect' || ctx.operation === 'NetworkDisconnect') {
      const body = await checkedBody(() => ctx.request.json());
      const c = field(body, 'Container');
      if (typeof c !== 'string') throw refuse('DOCKHAND_FOREIGN_REFERENCE', 'a container is required');
      const id = await ownership(ctx).container(c);
      setField(body, 'Container', id);
      await endpointNetwork(ctx, field(body, 'EndpointConfig'), ctx.params.id!);
      ctx.request.setJson(body);
      if (othersOn(ref) && ctx.operation === 'NetworkConnect') {
        refuseSharedEndpointNames(ref, field(body, 'EndpointConfig'));
        // the name checked and the connect made with no rename in between (a rename and a connect sent at once
        // both passed, found by review, stop 21)
        await sharedNames(async () => {
          refuseSharedContainer(ref, id, await containerFacts(ctx, id));
          await next();
        });
        return;
      }
    }
    await next();
  });

  /** Renames, and connects to networks others share, one at a time: each checks what the other changes. */
  let namesQueue: Promise<unknown> = Promise.resolve();
  const sharedNames = (fn: () => Promise<void>): Promise<void> => {
    const run = namesQueue.then(fn);
    namesQueue = run.catch(() => {});
    return run;
  };

  /**
   * Refuses, on a network others share, the names and addresses an endpoint would take there (`Aliases`, `Links`,
   * `IPAMConfig`): another tenant's container name taken as an alias drew that tenant's clients to the
   * attacker's container (found by review, stop 20).
   */
  const refuseSharedEndpointNames = (net: string, ep: unknown): void => {
    if (!isObject(ep)) return;
    for (const key of ['Aliases', 'Links', 'IPAMConfig']) {
      const v = field(ep, key);
      if (v === undefined || v === null) continue;
      if ((Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0)) continue;
      throw refuse(
        'DOCKHAND_FOREIGN_REFERENCE',
        `${key} on the shared network ${net} are not allowed here: other tenants' containers are on it too`,
      );
    }
  };

  /**
   * On a network others share, a container's name is a DNS name every container there looks up: one named as
   * another tenant's service (`db`) or as its container's short id drew that tenant's clients (found by review,
   * stop 21). A container joins such a network only with a name of the tenant's own, `<tenant>-...` (or the
   * engine's generated name, at create).
   */
  const sharedNamePrefix = `${label.value}-`;
  /**
   * A container's host and domain names are DNS names on user-defined networks too (found by review, stop 21:
   * `--hostname workshop-api` drew the operator's clients): on a network others share, the engine's default
   * (the first 12 digits of the id) or one of the tenant's own.
   */
  const refuseSharedHostname = (net: string, hostname: string, domainname: string, id?: string): void => {
    if (domainname !== '')
      throw refuse(
        'DOCKHAND_FOREIGN_REFERENCE',
        `a container with a domain name cannot join the shared network ${net}: other tenants' containers are on it, and look names up there`,
      );
    if (
      hostname === '' ||
      hostname.startsWith(sharedNamePrefix) ||
      (id !== undefined && hostname === id.slice(0, 12))
    )
      return;
    throw refuse(
      'DOCKHAND_FOREIGN_REFERENCE',
      `a container with the host name ${hostname} cannot join the shared network ${net}: other tenants' containers are on it, and look names up there; name it ${sharedNamePrefix}...`,
    );
  };
  const refuseSharedContainer = (net: string, id: string, facts: ContainerFacts): void => {
    refuseSharedName(net, facts.name);
    refuseSharedHostname(net, facts.hostname, facts.domainname, id);
  };
  const refuseSharedName = (net: string, name: string): void => {
    const bare = name.replace(/^\//, '');
    if (bare.startsWith(sharedNamePrefix)) return;
    throw refuse(
      'DOCKHAND_FOREIGN_REFERENCE',
      `a container named ${bare} cannot join the shared network ${net}: other tenants' containers are on it, and look names up there; name it ${sharedNamePrefix}...`,
    );
  };
  // a removed volume leaves the cache at once: its name may be taken again before the engine's event arrives
  const volumes: Middleware = on(VOLUME_OPS, async (ctx, next) => {
    ctx.params.name = await ownership(ctx).volume(ctx.params.name!);
    await next();
    if (ctx.operation === 'VolumeDelete' && ctx.response!.status < 300)
      ownership(ctx).forget('volume', ctx.params.name);
  });

  const execs: Middleware = on(EXEC_OPS, async (ctx, next) => {
    ctx.params.id = await ownership(ctx).exec(ctx.params.id!);
    await next();
  });

  /**
   * An image as the engine resolves a reference (a name, an id or an id prefix): its id, what the image policy
   * reads of it, its `ONBUILD` triggers; with the engine's status (404: missing, or an id prefix of more than one
   * image).
   */
  const imageLookup = async (
    ctx: Context,
    ref: string,
  ): Promise<{
    status: number;
    img?: {
      id: string;
      facts: ImageFacts;
      labels: Record<string, string> | null | undefined;
      onBuild: string[];
    };
  }> => {
    const reply = await createImage(ctx, ref);
    if (reply.status !== 200) return { status: reply.status };
    const img = reply.body as {
      Id: string;
      RepoTags?: string[] | null;
      RepoDigests?: string[] | null;
      Config?: { Labels?: Record<string, string> | null; OnBuild?: unknown };
    };
    const onBuild = img.Config?.OnBuild;
    const labels = img.Config?.Labels;
    return {
      status: 200,
      img: {
        id: img.Id,
        facts: imageFacts(img),
        labels,
        onBuild: Array.isArray(onBuild) ? onBuild.map(String) : [],
      },
    };
  };

  /** An image (as {@link imageLookup}), or `undefined` when the engine has none of that reference. */
  const imageLabels = async (ctx: Context, ref: string) => (await imageLookup(ctx, ref)).img;

  /**
   * What goes on to the engine for a reference the tenant's image was found by: the image's full id where the
   * reference is an id or a prefix of it (the engine then acts on the image by id, and a prefix read again could
   * be another image by then: found by review, stop 20), else the reference as sent.
   */
  const forwardedImage = (ref: string, id: string): string => {
    const hex = ref.startsWith('sha256:') ? ref.slice('sha256:'.length) : ref;
    if (!/^[0-9a-f]+$/.test(hex)) return ref;
    if (id.startsWith(`sha256:${hex}`)) return id;
    // a name of hex digits, found as a tag (`3f:latest`): with its tag, so that the engine cannot read it as an id
    // prefix once the tag is gone (found by review, stop 20)
    return `${ref}:latest`;
  };

  /** The daemon's 404 for an image, as the engine at hand words it for a missing one. */
  const imageMissing = async (ctx: Context, ref: string) =>
    imageNotFound(ref, await engineApiVersion(ctx.upstream));

  /** The ids of the images the tenant sees. */
  const visibleImageIds = async (ctx: Context): Promise<string[]> => {
    const list = await engineList<(ImageFacts & { Id: string })[]>(ctx.upstream, '/images/json');
    return list.filter((img) => imageVisible(img, label, images)).map((img) => img.Id);
  };

  /** An image that must be on the engine and visible to the tenant; else the daemon's own 404 for a missing one. */
  const visibleImage = async (ctx: Context, ref: string) => {
    const img = await imageLabels(ctx, ref);
    if (!img || !imageVisible(img.facts, label, images)) throw await imageMissing(ctx, ref);
    return img;
  };

  /**
   * The reference to forward for an image the tenant names ({@link forwardedImage}); the daemon's own 404 for one
   * it may not see, and for a missing one (or an id prefix of several images): a reference the engine did not
   * resolve is never forwarded, since it could resolve to another tenant's image when it arrives. An unreadable
   * one (`Nope`: the engine's 400) goes on, for the engine's own answer.
   *
   * @param missing - the 404 (default: the words of an inspect)
   */
  const resolvedImage = async (
    ctx: Context,
    ref: string,
    missing: () => Promise<DockhandError> | DockhandError = () => imageMissing(ctx, ref),
  ): Promise<string> => {
    const { status, img } = await imageLookup(ctx, ref);
    if (img === undefined) {
      if (status === 404) throw await missing();
      return ref;
    }
    if (!imageVisible(img.facts, label, images)) throw await missing();
    return forwardedImage(ref, img.id);
  };

  const images_: Middleware = on(
    ['ImageInspect', 'ImageHistory', 'ImageGet', 'ImageDelete', 'ImageTag', 'ImagePush'],
    async (ctx, next) => {
      const ref =
        ctx.operation === 'ImagePush'
          ? pushedRef(ctx.params.name!, ctx.request.query.get('tag') ?? '')
          : ctx.params.name!;
      if (ctx.operation === 'ImageGet') {
        const names = await savable(ctx, ref);
        if (names.length > 1)
          throw refuse(
            'DOCKHAND_IMAGE_POLICY',
            `${ref} has ${names.length} tags: save them by name (docker save ${names.map(daemonImageName).join(' ')})`,
          );
        ctx.params.name = names[0]!;
        await next();
        return;
      }
      const { status, img } = await imageLookup(ctx, ref);
      const missing = () => imageMissing(ctx, ref);
      if (!img) {
        // a push names what it sends, never an id; anything else the engine did not find, the proxy answers: a
        // reference forwarded unresolved could be another tenant's image when it arrives (an id prefix of two
        // images, one of them the tenant's own, removed meanwhile: found by review, stop 20)
        if (status === 404 && ctx.operation === 'ImagePush') {
          // nothing to push: answered here as the engine answers, never forwarded (the engine would read the name
          // again, and push whatever another tenant had put under it by then, to a registry of the pusher's choosing)
          pushMissing(ctx, ctx.params.name!);
          return;
        }
        if (status === 404) throw await missing();
        await next(); // the daemon's own error
        return;
      }
      const labels = img.labels;
      if (!imageVisible(img.facts, label, images)) {
        // another tenant's image is answered as a missing one, in a push's words too
        if (ctx.operation === 'ImagePush') {
          pushMissing(ctx, ctx.params.name!);
          return;
        }
        throw await missing();
      }
      if (ctx.operation !== 'ImagePush') ctx.params.name = forwardedImage(ref, img.id);
      if (ctx.operation === 'ImageDelete' || ctx.operation === 'ImageTag' || ctx.operation === 'ImagePush') {
        if (!carries(labels, label) && !images.allowChangingShared) {
          throw refuse(
            'DOCKHAND_IMAGE_POLICY',
            `image ${ref} is shared with everyone on this engine: you can use it, but only images you built can be ${ctx.operation === 'ImageTag' ? 're-tagged' : ctx.operation === 'ImagePush' ? 'pushed' : 'deleted'}`,
          );
        }
      }
      if (ctx.operation === 'ImageTag')
        await checkTagTarget(ctx, ctx.request.query.get('repo') ?? '', ctx.request.query.get('tag') ?? '');
      await next();
    },
  );

  /**
   * What a push sends, as the daemon reads it, for the image check: with a `tag`, that tag of the name's
   * repository (whatever tag the name carries); with none, the name. A name without a tag sends every local tag
   * of its repository: each must be the tenant's own image here, since another tenant's image under the same
   * repository would go to a registry of the pusher's choosing.
   */
  const pushedRef = (name: string, tag: string): string => {
    const repo = repositoryOf(name);
    if (tag !== '') return tag.includes(':') ? `${repo}@${tag}` : `${repo}:${tag}`;
    if (repo !== name) return name; // one tag or digest
    // a name without a tag pushes every tag of the repository (`docker push --all-tags`): whatever the answer,
    // it would depend on tags of other tenants (refused, missing, forwarded), which tells of them (found by
    // review, stop 21); and the engine reads the tags again when the registry has answered, which a registry of
    // the pusher's can put off. One tag at a time, always
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      `pushing every tag of ${repo} at once is not available here: push one tag at a time (docker push ${repo}:<tag>)`,
    );
  };

  /**
   * The engine's answer to a push of a name it has no image under: a stream (200) naming the repository, then
   * the error, worded as Engine 26.1 words it.
   */
  const pushMissing = (ctx: Context, name: string): void => {
    const full = normaliseReference(repositoryOf(name)).name;
    const message = `An image does not exist locally with the tag: ${familiarName(full)}`;
    ctx.respond(200, {});
    ctx.response!.setBody(
      Buffer.from(
        `${JSON.stringify({ status: `The push refers to repository [${full}]` })}\r\n${JSON.stringify({ errorDetail: { message }, error: message })}\r\n`,
      ),
      'application/json',
    );
  };

  /**
   * What a save of a name goes on with: for a repository name without a tag, which the daemon saves with every tag
   * it has, those tags, each in full, only when each is an image the tenant sees; else the image as resolved
   * ({@link resolvedImage}). The daemon's 404 for a save, otherwise. The tags are named one by one: the repository's
   * name, sent on, took every tag it had when the engine read it, another tenant's new tag too (found by review,
   * stop 24).
   */
  const savable = async (ctx: Context, name: string): Promise<string[]> => {
    const slash = name.lastIndexOf('/');
    if (!name.includes('@') && !name.includes(':', slash + 1)) {
      // the repository's tags among the images the tenant sees, compared here, in full: the engine's `reference`
      // filter, sent the name, read it as a glob over every image, and whether anything hidden matched walked
      // another tenant's names (found by review, stop 25: 153 queries)
      const full = normaliseReference(name).name;
      const tags = (await engineList<(ImageFacts & ListedImage)[]>(ctx.upstream, '/images/json'))
        .filter((img) => imageVisible(img, label, images))
        .flatMap((img) => img.RepoTags ?? [])
        .filter((tag) => tag !== '<none>:<none>')
        .map((tag) => normaliseReference(tag))
        .filter((ref) => ref.name === full)
        // in full (`docker.io/library/x:t`): a name the engine no longer finds it would read as an id prefix
        .map((ref) => `${ref.name}:${ref.tag}`);
      if (tags.length > 0) return [...new Set(tags)].sort();
    }
    // a name with a tag or a digest, or no repository of that name: an id prefix to the engine
    return [await resolvedImage(ctx, name, () => saveNotFound(name))];
  };

  /** Refuses a tag that would move a name another tenant's (or a shared) image holds. */
  const checkTagTarget = async (ctx: Context, repo: string, tag = ''): Promise<void> => {
    if (repo === '') return;
    const ref = repoTag(repo, tag);
    refuseReserved(ref, images);
    refuseIdLikeImageName(ref);
    const img = await imageLabels(ctx, ref);
    if (img && !carries(img.labels, label) && !images.allowChangingShared) {
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        `the tag ${ref} belongs to an image you did not build; pick another name`,
      );
    }
  };

  /**
   * Gives an image the engine made (a build's, an import's) its names, checked now ({@link exportNames}); a
   * refusal as the message that ends the engine's stream of progress, `undefined` when named.
   */
  const namedAfter = async (
    ctx: Context,
    id: string,
    names: readonly string[],
  ): Promise<{ errorDetail: { message: string }; error: string } | undefined> => {
    try {
      await exportNames(ctx.upstream, label, images).give(id, names);
      return undefined;
    } catch (err) {
      // the proxy's own refusal is for the client; anything else (the engine not answering) only for the log
      const message = DockhandError.is(err)
        ? err.message
        : `the image ${id} could not be named here; tag it yourself`;
      ctx.log.warn(
        { err, code: DockhandError.is(err) ? err.code : 'DOCKHAND_ENGINE_LOOKUP_FAILED' },
        message,
      );
      return { errorDetail: { message }, error: message };
    }
  };

  const build: Middleware = on('ImageBuild', async (ctx, next) => {
    const tags = ctx.request.query.getAll('t').filter((t) => t !== '');
    refuseTooManyNames(tags);
    for (const t of tags) await checkTagTarget(ctx, t);
    // the engine tags at the end whatever each name has become: the proxy gives the names then, checked again
    // (found by review, stop 19), with the lines the engine would have printed
    ctx.request.query.delete('t');
    // a classic build's step containers carry no label: neither the tenant nor a cleanup by label could find them
    // again, so they go whatever the build asks (the engine keeps every step's with `rm=0`, and a failed step's
    // unless `forcerm`)
    ctx.request.query.set('rm', '1');
    ctx.request.query.set('forcerm', '1');
    // the classic builder reads its Dockerfile from the context tar: `classicBuild` reads it as the engine will
    // (the bytes are replayed as they are), so that `FROM`, `COPY --from`, `ONBUILD` and the triggers of the images
    // it starts from cannot read another tenant's image. BuildKit (`version=2`) sends the Dockerfile over its
    // session instead; see docs/security.md.
    // `cachefrom` names images whose layers the build may take as its own
    for (const value of ctx.request.query.getAll('cachefrom')) {
      let refs: unknown;
      try {
        // `null` is no list, as Go decodes it (docker compose sends `cachefrom=null`: found by review, stop 24)
        refs = JSON.parse(value || '[]') ?? [];
      } catch {
        throw refuse('DOCKHAND_AMBIGUOUS_BODY', 'the cachefrom parameter is not valid JSON');
      }
      if (!Array.isArray(refs))
        throw refuse('DOCKHAND_AMBIGUOUS_BODY', 'the cachefrom parameter is not a list');
      for (const ref of refs) await visibleImage(ctx, String(ref));
    }
    const classic = await classicBuild(ctx);
    const pull = ctx.request.query.get('pull');
    if (classic && pull !== null && !['', '0', 'no', 'false', 'none'].includes(pull.toLowerCase()))
      throw refuse(
        'DOCKHAND_IMAGE_POLICY',
        'a classic build builds from the images checked on this engine and cannot pull them (--pull); pull the base image first (docker pull), then build',
      );
    const pins = new Map<string, string>();
    for (const ref of classic?.images ?? []) {
      if (!classic!.bases.includes(ref)) {
        // read only when the engine reaches the step: a name missing now could be another tenant's by then
        await visibleImage(ctx, ref);
        continue;
      }
      // a base image the engine does not have would be pulled during the build, and its triggers run unchecked:
      // the classic builder starts only from images on the engine, and a missing one looks like a foreign one
      const img = await visibleImage(ctx, ref);
      pins.set(ref, img.id);
      // the image's ONBUILD triggers run in this build: read only now, so that a foreign image's stay unseen
      const read = onBuildInstructions(img.onBuild);
      refuseLabelInstructions(read, [label.key, HELPER_LABEL]);
      const triggers = onBuildReads(read);
      if (triggers.remote.length > 0) {
        throw refuse(
          'DOCKHAND_HOST_ESCAPE',
          `an ONBUILD trigger of image ${ref} adds ${triggers.remote[0]}, which the engine would fetch from the host network; it is not allowed here`,
        );
      }
      for (const read of triggers.images) {
        const registry = registryOf(read);
        if (registry && (await resolvesHostLocal(registry))) {
          throw refuse(
            'DOCKHAND_HOST_ESCAPE',
            `an ONBUILD trigger of image ${ref} reads ${read} from the registry ${registry}, on the engine's host; it is not allowed here`,
          );
        }
        await visibleImage(ctx, read);
      }
    }
    if (classic) {
      // the engine looks each name up only when it reaches the step: it builds from the ids checked here
      await pinClassicBuild(ctx, pins);
      // the classic builder's cache is every image on the engine, whose layers a step that matches takes as its
      // own: given `cachefrom`, it takes only those images' layers. They are the images the tenant sees
      const visible = await visibleImageIds(ctx);
      if (visible.length === 0) ctx.request.query.set('nocache', '1');
      else ctx.request.query.set('cachefrom', JSON.stringify(visible));
    }
    await next();
    const res = ctx.response!;
    if (tags.length === 0 || res.status !== 200 || res.hijacked) return;
    // as Go's `httputils.BoolValue` reads it
    const quiet = !['', '0', 'no', 'false', 'none'].includes(
      (ctx.request.query.get('q') ?? '').trim().toLowerCase(),
    );
    // the image's id: the last `aux` message; in a quiet build, the one line it prints, which must be its last
    // message (a failed quiet build prints its steps' output, which a step can make look like an id: found by
    // review, stop 20); and no name for a build that failed
    let built: string | undefined;
    let failed = false;
    res.transformJsonLines(
      (m) => {
        const { aux, stream, error, errorDetail } = m as {
          aux?: { ID?: unknown };
          stream?: unknown;
          error?: unknown;
          errorDetail?: unknown;
        };
        if (error !== undefined || errorDetail !== undefined) failed = true;
        if (quiet)
          built =
            typeof stream === 'string' && /^sha256:[0-9a-f]{64}\n$/.test(stream) ? stream.trim() : undefined;
        else if (typeof aux?.ID === 'string') built = aux.ID;
        return m;
      },
      async () => {
        if (built === undefined || failed) return [];
        const refused = await namedAfter(ctx, built, tags);
        if (refused) return [refused];
        return quiet ? [] : tags.map((t) => ({ stream: `Successfully tagged ${daemonImageName(t)}\n` }));
      },
    );
  });

  const commit: Middleware = on('ImageCommit', async (ctx, next) => {
    const c = ctx.request.query.get('container');
    if (!c) throw refuse('DOCKHAND_FOREIGN_REFERENCE', 'a container is required');
    ctx.request.query.set('container', await ownership(ctx).container(c));
    const repo = ctx.request.query.get('repo') ?? '';
    const tag = ctx.request.query.get('tag') ?? '';
    await checkTagTarget(ctx, repo, tag);
    // named when the engine has made the image, checked again then: the engine would tag at the end whatever the
    // name had become meanwhile (a long commit, as a build: found by review, stop 20)
    if (repo !== '') {
      ctx.request.query.delete('repo');
      ctx.request.query.delete('tag');
    }
    await next();
    const res = ctx.response!;
    if (repo === '' || res.status !== 201) return;
    const { Id: id } = await res.json<{ Id: string }>();
    await exportNames(ctx.upstream, label, images).give(id, [repoTag(repo, tag)]);
  });

  const importImage: Middleware = on('ImageCreate', async (ctx, next) => {
    const query = ctx.request.query;
    // a pull of a reserved name would put a registry's image there (the operator's images are built here)
    for (const image of query.getAll('fromImage')) {
      if (reservedName(repoTag(image, query.get('tag') ?? ''), images))
        throw refuse('DOCKHAND_IMAGE_POLICY', `the name ${image} is reserved for the workshop's own images`);
      // a pull of `<short id>` from a registry would take that name on the engine (unless it is the id, which a
      // pull never names)
      if (!isImageImport(query) && !image.includes('@')) refuseIdLikeImageName(image);
    }
    if (!isImageImport(query)) return next();
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    await checkTagTarget(ctx, repo, tag);
    // named when the engine has made the image, checked again then, as a build or a commit: the client sends
    // the archive as slowly as it likes, and the engine would tag at the end whatever the name had become
    if (repo === '') return next();
    query.delete('repo');
    query.delete('tag');
    await next();
    const res = ctx.response!;
    if (res.status !== 200 || res.hijacked) return;
    // the import's answer: its image id as its last status, or an error
    let made: string | undefined;
    let failed = false;
    res.transformJsonLines(
      (m) => {
        const { status, error, errorDetail } = m as {
          status?: unknown;
          error?: unknown;
          errorDetail?: unknown;
        };
        if (error !== undefined || errorDetail !== undefined) failed = true;
        made = typeof status === 'string' && /^sha256:[0-9a-f]{64}$/.test(status) ? status : undefined;
        return m;
      },
      async () => {
        if (made === undefined || failed) return [];
        const refused = await namedAfter(ctx, made, [repoTag(repo, tag)]);
        return refused ? [refused] : [];
      },
    );
  });

  const saveImages: Middleware = on('ImageGetAll', async (ctx, next) => {
    const names = ctx.request.query.getAll('names');
    if (names.length === 0) throw refuse('DOCKHAND_IMAGE_POLICY', 'name the images to save');
    const forwarded: string[] = [];
    for (const ref of names) forwarded.push(...(await savable(ctx, ref)));
    ctx.request.query.delete('names');
    for (const ref of forwarded) ctx.request.query.append('names', ref);
    await next();
  });

  const loadImages: Middleware = on('ImageLoad', async () => {
    throw refuse(
      'DOCKHAND_IMAGE_POLICY',
      'images cannot be loaded here: a loaded image keeps the names and labels inside the archive, so it could take a name or a label that is not yours; build it instead',
    );
  });

  // the build cache is shared with everyone on this engine and is not pruned from here; the tenant has none of its
  // own (`system df` and BuildKit's disk usage list none), so there is nothing to prune: `docker system prune`,
  // which prunes the build cache last, failed on the refusal this was (found by review, stop 23)
  const buildPrune: Middleware = on('BuildPrune', async (ctx) => {
    // (as the engine's report when it deletes nothing: Go's nil slice)
    ctx.respond(200, { CachesDeleted: null, SpaceReclaimed: 0 });
  });

  const create: Middleware = on('ContainerCreate', async (ctx, next) => {
    refuseIdLikeName('container', ctx.request.query.get('name'));
    const own = ownership(ctx);
    const body = await checkedBody(() => ctx.request.json());
    const image = field(body, 'Image');
    if (typeof image === 'string' && image !== '') setField(body, 'Image', await resolvedImage(ctx, image));
    const hc = field(body, 'HostConfig');
    if (isObject(hc)) {
      // `Cgroup` (`container:<x>`) is stored and, on Engine 26.1, not used: it is held to the same rule all the same
      for (const mode of ['NetworkMode', 'PidMode', 'IpcMode', 'Cgroup']) {
        const v = field(hc, mode);
        if (typeof v === 'string' && v.startsWith('container:')) {
          setField(hc, mode, `container:${await own.container(v.slice('container:'.length))}`);
        } else if (mode === 'NetworkMode' && typeof v === 'string' && !DEFAULT_NETWORKS.has(v)) {
          // the network as resolved goes on: the engine reads a reference as a full id, then a name, then an id
          // prefix, so the tenant's network found by one reading could be another tenant's by the engine's
          setField(hc, mode, await network(ctx, v));
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
          // the resolved id is forwarded: a name the daemon would read as someone else's id cannot redirect it
          out.push(`${await own.container(ref.replace(/^\//, ''))}:${alias}`);
        }
        setField(hc, 'Links', out);
      }
    }
    const nc = field(body, 'NetworkingConfig');
    const endpoints = isObject(nc) ? field(nc, 'EndpointsConfig') : undefined;
    if (isObject(endpoints)) {
      const resolved: JsonObject = {};
      for (const [net, ep] of Object.entries(endpoints)) {
        // keyed by the network as resolved, as NetworkMode (the engine keeps each endpoint under the network's name)
        const key = DEFAULT_NETWORKS.has(net) ? net : await network(ctx, net);
        resolved[key] = ep;
        await endpointNetwork(ctx, ep, key);
        if (othersOn(net)) refuseSharedEndpointNames(net, ep);
        const epLinks = field(ep, 'Links');
        if (Array.isArray(epLinks) && isObject(ep)) {
          const out: string[] = [];
          for (const l of epLinks) {
            const [ref = '', ...alias] = String(l).split(':');
            const id = await own.container(ref.replace(/^\//, ''));
            // on a user-defined network a link is an alias of a name the network's DNS looks up each time: the
            // container's name, which outlives the container as compose recreates it (found by review, stop 21:
            // a full id answered nothing, a short id nothing once the container was recreated). The name is the
            // tenant's container's; only the tenant's containers are on a network where links are allowed
            const { name } = await containerFacts(ctx, id);
            out.push([name.replace(/^\//, ''), ...(alias.length ? alias : [ref])].join(':'));
          }
          setField(ep, 'Links', out);
        }
      }
      setField(nc as JsonObject, 'EndpointsConfig', resolved);
    }
    // a name of the tenant's choosing on a network others share must be one of its own (the engine's generated
    // name is nobody's choice)
    const chosen = ctx.request.query.get('name') ?? '';
    const mode = isObject(hc) ? field(hc, 'NetworkMode') : undefined;
    const joined = [
      ...(typeof mode === 'string' ? [mode] : []),
      ...(isObject(endpoints) ? Object.keys(endpoints) : []),
    ];
    for (const net of joined.filter(othersOn)) {
      if (chosen !== '') refuseSharedName(net, chosen);
      const hostname = field(body, 'Hostname');
      const domainname = field(body, 'Domainname');
      refuseSharedHostname(
        net,
        typeof hostname === 'string' ? hostname : '',
        typeof domainname === 'string' ? domainname : '',
      );
    }
    ctx.request.setJson(body);
    await next();
    if (ctx.response!.status === 201)
      own.remember('container', (await ctx.response!.json<{ Id: string }>()).Id);
    else await hideConflictingId(ctx);
  });

  /**
   * The daemon's name-conflict message names the container holding the name; when that is another tenant's,
   * the id is taken out, so a conflict reveals no more than that the name is taken.
   */
  const hideConflictingId = async (ctx: Context): Promise<void> => {
    const res = ctx.response!;
    if (res.status !== 409) return;
    const body = await res.json<{ message?: string }>();
    const message = body?.message ?? '';
    const m = /by container "([0-9a-f]{64})"/.exec(message);
    if (!m) return;
    try {
      await ownership(ctx).container(m[1]!);
    } catch {
      res.setJson({ message: message.replace(m[0], 'by another container') });
    }
  };

  const rename: Middleware = on('ContainerRename', async (ctx, next) => {
    refuseIdLikeName('container', ctx.request.query.get('name'));
    // (the containers middleware, after this one, resolves the reference again, from the cache)
    const id = await ownership(ctx).container(ctx.params.id!);
    await sharedNames(async () => {
      const { networks: joined } = await containerFacts(ctx, id);
      for (const net of joined) if (othersOn(net)) refuseSharedName(net, ctx.request.query.get('name') ?? '');
      await next();
    });
    await hideConflictingId(ctx);
  });

  const remember: Middleware = on(['NetworkCreate', 'VolumeCreate'], async (ctx, next) => {
    const body = await checkedBody(() => ctx.request.json());
    if (ctx.operation === 'NetworkCreate') refuseIdLikeName('network', field(body, 'Name'));
    // the removals of the name told before the engine answers: one told after may have taken effect after it
    const asked = ctx.operation === 'VolumeCreate' ? field(body, 'Name') : undefined;
    const removals =
      typeof asked === 'string' && asked !== '' ? ownership(ctx).volumeRemovals(asked) : undefined;
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
      const made = field(created, 'CreatedAt');
      const name = String(field(created, 'Name'));
      ownership(ctx).remember(
        'volume',
        name,
        typeof made === 'string' ? made : undefined,
        name === asked ? removals : undefined,
      );
    }
  });

  return compose([
    holdNames(),
    scopeImageReads((img) => imageVisible(img, label, images)),
    lists,
    rename,
    imageList,
    dataUsage,
    info,
    events,
    containers,
    networks,
    volumes,
    execs,
    images_,
    build,
    commit,
    importImage,
    saveImages,
    loadImages,
    buildPrune,
    create,
    remember,
  ]);
}

/** An image id no image has: where a filter names an image the tenant does not see. */
const NO_IMAGE = `sha256:${'0'.repeat(64)}`;
