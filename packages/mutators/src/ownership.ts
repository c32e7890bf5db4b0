import type { Upstream } from '@dockhand/core';
import type { Logger } from 'pino';
import { engineList } from './engine-list.ts';
import { notFound, refuse } from './errors.ts';
import { carries, type TenantLabel } from './tenant.ts';

/** The kinds of object whose ownership {@link Ownership} remembers. */
export type OwnedKind = 'container' | 'network' | 'volume';

/** A full object id as the engine gives it (64 hex digits): what ownership verdicts are cached on. */
export const FULL_ID: RegExp = /^[0-9a-f]{64}$/;

interface Listed {
  Id?: string;
  Name?: string;
  Names?: string[];
  Labels?: Record<string, string> | null;
}

/**
 * Resolves the names and id prefixes a tenant uses to full ids, and decides whether each object is the tenant's.
 * Ownership of a full id never changes (labels are fixed at creation), so the tenant's own full ids are cached;
 * the cache is cleared of removed objects from the engine's event stream and from the tenant's own requests.
 * Names are resolved afresh on each request and the full id is forwarded, so a name swapped between the check
 * and the action cannot redirect it to another object. Containers and networks are resolved among the tenant's
 * own only (its list, filtered by its label), never by sending the engine the reference as given: the time of the
 * engine's answer told another tenant's object from none.
 *
 * @example
 * ```ts
 * const owners = new Ownership(parseLabel('dockhand.tenant=alice'), ctx.upstream);
 * const id = await owners.container('web'); // full id, or throws 404 "No such container: web"
 * ```
 */
export class Ownership {
  /** The tenant label. */
  readonly label: TenantLabel;
  #upstream: Upstream | undefined;
  readonly #owned = { container: new Set<string>(), network: new Set<string>(), volume: new Set<string>() };
  readonly #execs = new Map<string, string>();
  /** When each volume known to be the tenant's became so (ms): a volume's name outlives its owners. */
  readonly #volumeSince = new Map<string, number>();
  /** The `timeNano` of the last `destroy` of each volume name the watcher saw, the newest {@link GONE_KEPT}. */
  readonly #volumeGone = new Map<string, number>();
  /** How many removals of each volume name this cache was told of, the newest {@link GONE_KEPT} names. */
  readonly #volumeRemovals = new Map<string, number>();
  #watching = false;
  #log: Logger | undefined;
  #stopped = false;
  #abort: AbortController | undefined;
  readonly #volumeCheckMs: number;
  #volumeCheck: NodeJS.Timeout | undefined;

  /**
   * @param label - the tenant label
   * @param upstream - the engine; when the cache is made before the proxy exists, leave it out and
   *   {@link Ownership.connect} it on the first request
   * @param log - where to log event-stream trouble
   * @param options - `volumeCheckMs`: how often, once it follows events, the cache checks the volume names it
   *   holds against the engine's list of the tenant's volumes (default 30 s; see {@link Ownership.checkVolumes})
   */
  constructor(
    label: TenantLabel,
    upstream?: Upstream,
    log?: Logger,
    options: { readonly volumeCheckMs?: number } = {},
  ) {
    this.label = label;
    this.#upstream = upstream;
    this.#log = log;
    this.#volumeCheckMs = options.volumeCheckMs ?? 30_000;
  }

  /**
   * Binds a cache made without an engine to one (a middleware calls it with `ctx.upstream` on every request it
   * sees; only the first call counts).
   *
   * @param upstream - the engine
   * @param log - where to log event-stream trouble, unless the constructor was given a logger
   */
  connect(upstream: Upstream, log?: Logger): void {
    this.#upstream ??= upstream;
    this.#log ??= log;
  }

  get #engine(): Upstream {
    if (this.#upstream === undefined)
      throw new Error('this ownership cache is not connected to an engine: call connect(ctx.upstream) first');
    return this.#upstream;
  }

  /**
   * Records an object the tenant just created (its id or volume name).
   *
   * @param kind - the object kind
   * @param id - the full id (or volume name)
   * @param created - a volume's `CreatedAt`, as the engine answered its creation (default: now)
   * @param removalsBefore - for a volume, {@link Ownership.volumeRemovals} of its name before the request was sent:
   *   a removal of the name since then may have come after the engine's answer, which is then not recorded
   */
  remember(kind: OwnedKind, id: string, created?: string, removalsBefore?: number): void {
    if (kind === 'volume' && removalsBefore !== undefined && this.volumeRemovals(id) !== removalsBefore)
      return;
    this.#owned[kind].add(id);
    if (kind === 'volume') this.#volumeSince.set(id, madeAt(created));
  }

  /**
   * How many removals of a volume name this cache has been told of (by {@link Ownership.forget} or the engine's
   * events). A volume's answer that raced its removal describes a volume that is gone, whose name another tenant
   * may take: read this before the request, and pass it to {@link Ownership.remember} (found by review, stop 26: a
   * create of the tenant's own volume name, answered with the existing volume just as a removal of it took effect,
   * put the name back in the cache after the removal had taken it out; the events of another tenant's volume of
   * that name then passed as the tenant's, with its container's full id).
   *
   * @param name - the volume name
   * @returns the count (0 for a name never removed, or one not among the last 10,000 removed)
   */
  volumeRemovals(name: string): number {
    return this.#volumeRemovals.get(name) ?? 0;
  }

  /**
   * Records an exec session and its container.
   *
   * @param execId - the exec id
   * @param containerId - the container's full id
   */
  rememberExec(execId: string, containerId: string): void {
    this.#execs.set(execId, containerId);
  }

  /**
   * Forgets an object (removed).
   *
   * @param kind - the object kind
   * @param id - the id or volume name
   */
  forget(kind: OwnedKind, id: string): void {
    this.#owned[kind].delete(id);
    if (kind === 'volume') {
      this.#volumeSince.delete(id);
      keepNewest(this.#volumeRemovals, id, this.volumeRemovals(id) + 1);
    }
    // a removed container's execs are gone with it (found by review, stop 24: the map grew by every exec made)
    if (kind === 'container')
      for (const [exec, container] of this.#execs) if (container === id) this.#execs.delete(exec);
  }

  /**
   * How many entries each of the cache's maps holds: the tenant's containers, networks and volumes known by full
   * id (or name), and the exec sessions known with their container. For metrics and tests; every entry is
   * forgotten when its object is removed.
   *
   * @returns the counts
   */
  sizes(): { container: number; network: number; volume: number; exec: number } {
    return {
      container: this.#owned.container.size,
      network: this.#owned.network.size,
      volume: this.#owned.volume.size,
      exec: this.#execs.size,
    };
  }

  /**
   * Whether an id (or volume name) is known to be the tenant's, without asking the engine.
   *
   * @param kind - the object kind
   * @param id - the full id or volume name
   * @returns the verdict from the cache
   */
  knownOwned(kind: OwnedKind, id: string): boolean {
    return this.#owned[kind].has(id);
  }

  /**
   * Whether an event of a volume (a volume's id is its name) is of the tenant's volume: the volume is known to be
   * the tenant's, and the event is no older than the second the volume was made. An older event (the engine
   * replays its recent events for `since`) is of an earlier volume of that name, which may have been another
   * tenant's (found by review, stop 20).
   *
   * @param name - the volume name
   * @param time - the event's time, in seconds since the epoch
   * @param timeNano - the event's time in nanoseconds (`timeNano`), where it has one
   * @returns the verdict from the cache
   */
  knownOwnedVolumeEvent(name: string, time: number, timeNano?: number): boolean {
    const since = this.#volumeSince.get(name);
    if (!this.#owned.volume.has(name) || since === undefined || time < Math.floor(since / 1000)) return false;
    // the engine's times of a volume's making are seconds: an earlier volume of the name removed in the same
    // second had its events pass (found by review, stop 24: another tenant's container id, in an unmount). Its
    // events all come at or before its destroy, which the watcher saw
    const gone = this.#volumeGone.get(name);
    return gone === undefined || timeNano === undefined || timeNano > gone;
  }

  /**
   * Resolves a container reference (name, id prefix, full id) to the full id of a container the tenant owns.
   *
   * @param ref - what the client sent
   * @returns the full id
   * @throws {@link @dockhand/core!DockhandError} 404 with the daemon's wording when there is no such container of the tenant's
   */
  container(ref: string): Promise<string> {
    return this.#resolve('container', ref);
  }

  /**
   * Resolves a network reference to the full id of a network the tenant owns.
   *
   * @param ref - name, id prefix or id
   * @returns the full id
   * @throws {@link @dockhand/core!DockhandError} 404 when it is not the tenant's
   */
  network(ref: string): Promise<string> {
    return this.#resolve('network', ref);
  }

  /**
   * Checks that a volume is the tenant's.
   *
   * @param name - the volume name
   * @returns the name
   * @throws {@link @dockhand/core!DockhandError} 404 when it is not the tenant's
   */
  volume(name: string): Promise<string> {
    return this.#resolve('volume', name);
  }

  /**
   * Whether a volume exists, and whose it is.
   *
   * @param name - the volume name
   * @returns `missing`, `owned` or `foreign`
   */
  async volumeState(name: string): Promise<'missing' | 'owned' | 'foreign'> {
    // always asked: a volume's id is its name, which another tenant may take as soon as the volume is gone, before
    // the engine's `destroy` event reaches this cache
    const removals = this.volumeRemovals(name);
    const reply = await this.#engine.request({ path: `/volumes/${encodeURIComponent(name)}` });
    if (reply.status === 404) {
      await reply.text();
      return 'missing';
    }
    const v = await reply.json<{ Name: string; Labels: Record<string, string> | null; CreatedAt?: string }>();
    return this.#record(v.Name, v.Labels, v.CreatedAt, removals) ? 'owned' : 'foreign';
  }

  /**
   * Resolves an exec id to its container and checks that the container is the tenant's.
   *
   * @param execId - the exec id
   * @returns the exec's full id
   * @throws {@link @dockhand/core!DockhandError} 404 `No such exec instance` otherwise
   */
  async exec(execId: string): Promise<string> {
    const cached = this.#execs.get(execId);
    if (cached && this.#owned.container.has(cached)) return execId;
    const reply = await this.#engine.request({ path: `/exec/${encodeURIComponent(execId)}/json` });
    const info = reply.status === 200 ? await reply.json<{ ID: string; ContainerID: string }>() : undefined;
    if (info === undefined) await reply.text();
    // the tenant's own containers are listed for a missing exec too: another tenant's exec cost that list and a
    // missing one nothing, so the time of the 404 told them apart (found by review, stop 25: 0.78 against 0.36 ms)
    const mine = await this.ownedIds('container');
    if (info === undefined || !mine.has(info.ContainerID)) throw notFound('exec instance', execId);
    this.#execs.set(info.ID, info.ContainerID);
    return info.ID;
  }

  /**
   * The full ids of the tenant's containers or networks, from its own list on the engine (each one is remembered
   * as the tenant's). The engine's work for that list does not depend on other tenants' objects matching anything
   * the tenant sent.
   *
   * @param kind - containers or networks
   * @returns their full ids
   * @throws {@link @dockhand/core!DockhandError} 502 `DOCKHAND_ENGINE_LOOKUP_FAILED` when the engine cannot list them
   */
  async ownedIds(kind: 'container' | 'network'): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const o of await this.#ownList(kind)) if (o.Id) ids.add(o.Id);
    for (const id of ids) this.#owned[kind].add(id);
    return ids;
  }

  /** The tenant's containers or networks as the engine lists them, filtered by its label (and checked again). */
  async #ownList(kind: 'container' | 'network'): Promise<Listed[]> {
    const filters = JSON.stringify({ label: [`${this.label.key}=${this.label.value}`] });
    // an engine that cannot list them is an error (502), not a missing object
    const list =
      kind === 'container'
        ? await engineList<Listed[]>(this.#engine, '/containers/json', { all: '1', filters })
        : await engineList<Listed[]>(this.#engine, '/networks', { filters });
    return list.filter((o) => carries(o.Labels, this.label));
  }

  async #resolve(kind: OwnedKind, ref: string): Promise<string> {
    // a volume by its name (names are engine-wide and no secret: a create of a taken one says so)
    if (kind === 'volume') {
      if ((await this.volumeState(ref)) === 'owned') return ref;
      throw notFound('volume', ref);
    }
    if (FULL_ID.test(ref) && this.#owned[kind].has(ref)) return ref;
    // looked up among the tenant's own objects only, never sent to the engine as given: the engine inspects
    // whatever a name or id prefix finds in full before the proxy could hide it, and answers a missing one at
    // once, so the time of the 404 walked another tenant's container id a hex digit at a time (found by review,
    // stop 24: 12 digits in 2.5 s). The tenant's list costs the engine the same whoever else's objects match
    const own = await this.#findOwn(kind, ref);
    if (own) {
      this.#owned[kind].add(own);
      return own;
    }
    throw notFound(kind, ref);
  }

  /**
   * Whether a volume's answer carries the tenant's label; recorded as the tenant's when it does, unless a removal
   * of the name was told since the request went out (`removalsBefore`: see {@link Ownership.volumeRemovals}).
   */
  #record(
    name: string,
    labels: Record<string, string> | null | undefined,
    created: string | undefined,
    removalsBefore: number,
  ): boolean {
    if (!carries(labels, this.label)) return false;
    this.remember('volume', name, created, removalsBefore);
    return true;
  }

  /**
   * A container or network of the tenant's that a reference names, read as the engine reads it: a full id, then a
   * name, then an id prefix that only one of them has.
   */
  async #findOwn(kind: 'container' | 'network', ref: string): Promise<string | undefined> {
    const mine = await this.#ownList(kind);
    const byId = mine.find((o) => o.Id === ref);
    if (byId?.Id) return byId.Id;
    const name = ref.startsWith('/') ? ref : `/${ref}`;
    const byName = mine.find((o) => (kind === 'container' ? o.Names?.includes(name) : o.Name === ref));
    if (byName?.Id) return byName.Id;
    const byPrefix = mine.filter((o) => o.Id?.startsWith(ref));
    if (byPrefix.length === 1 && byPrefix[0]!.Id) return byPrefix[0]!.Id;
    return undefined;
  }

  /**
   * Follows the engine's event stream to forget removed objects, reconnecting with backoff. Idempotent.
   */
  watch(): void {
    if (this.#watching) return;
    this.#watching = true;
    void this.#follow(0);
    this.#volumeCheck = setInterval(() => {
      this.checkVolumes().catch((err: unknown) =>
        this.#log?.warn({ err }, 'ownership cache: volume check failed'),
      );
    }, this.#volumeCheckMs).unref();
  }

  /**
   * Forgets the volume names the cache holds that the engine no longer lists among the tenant's volumes. The
   * cache learns removals from the engine's event stream, which it notices cut but not stalled, and which the
   * engine may thin out for a watcher that falls behind: a removed name kept as the tenant's let the events of
   * another tenant's volume of that name pass (found by review, stop 26, with an engine stand-in that held the
   * stream). The watcher runs this every `volumeCheckMs`; a replay of events runs it first. A name removed and
   * made again while the list is read is kept (its removal count moved).
   *
   * @throws {@link @dockhand/core!DockhandError} 502 `DOCKHAND_ENGINE_LOOKUP_FAILED` when the engine does not list
   *   them
   */
  async checkVolumes(): Promise<void> {
    const held = [...this.#owned.volume];
    if (held.length === 0) return;
    const removals = held.map((name) => this.volumeRemovals(name));
    const reply = await this.#engine.request({
      path: '/volumes',
      query: { filters: JSON.stringify({ label: [`${this.label.key}=${this.label.value}`] }) },
    });
    if (reply.status !== 200) {
      await reply.text();
      throw refuse(
        'DOCKHAND_ENGINE_LOOKUP_FAILED',
        `the tenant's volumes cannot be listed (HTTP ${reply.status})`,
      );
    }
    const listed = new Set(
      ((await reply.json<{ Volumes?: { Name: string }[] | null }>()).Volumes ?? []).map((v) => v.Name),
    );
    held.forEach((name, i) => {
      if (!listed.has(name) && this.#owned.volume.has(name) && this.volumeRemovals(name) === removals[i])
        this.forget('volume', name);
    });
  }

  async #follow(attempt: number): Promise<void> {
    while (!this.#stopped) {
      this.#abort = new AbortController();
      try {
        const res = await this.#engine.pool.request({
          method: 'GET',
          path: `/events?filters=${encodeURIComponent(JSON.stringify({ event: ['destroy', 'rename'] }))}`,
          signal: this.#abort.signal,
        });
        attempt = 0;
        let buf = '';
        for await (const chunk of res.body) {
          buf += chunk.toString();
          let nl = buf.indexOf('\n');
          while (nl !== -1) {
            this.#onEvent(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
            nl = buf.indexOf('\n');
          }
        }
      } catch (err) {
        // the proxy closed its connection pool: nobody will ask any more
        if (this.#stopped || (err as { code?: string }).code === 'UND_ERR_DESTROYED') return;
        this.#log?.warn({ err }, 'ownership cache lost the event stream; clearing it and reconnecting');
      }
      // events may have been missed: only what is re-checked can be trusted
      for (const k of ['container', 'network', 'volume'] as const) this.#owned[k].clear();
      this.#volumeSince.clear();
      this.#execs.clear();
      await new Promise((r) => setTimeout(r, Math.min(30_000, 250 * 2 ** attempt++)).unref());
    }
  }

  #onEvent(line: string): void {
    let e: { Type?: string; Action?: string; Actor?: { ID?: string }; timeNano?: number };
    try {
      e = JSON.parse(line);
    } catch {
      return;
    }
    const id = e.Actor?.ID;
    if (!id || (e.Type !== 'container' && e.Type !== 'network' && e.Type !== 'volume')) return;
    if (e.Action !== 'destroy') return;
    this.forget(e.Type, id);
    if (e.Type === 'volume' && typeof e.timeNano === 'number') this.#noteVolumeGone(id, e.timeNano);
  }

  /** Keeps the latest removal of a volume name, the newest {@link GONE_KEPT} names. */
  #noteVolumeGone(name: string, timeNano: number): void {
    keepNewest(this.#volumeGone, name, Math.max(this.#volumeGone.get(name) ?? 0, timeNano));
  }

  /**
   * Learns, from the engine, the volume removals from `since` until now, before a replay of events from then is
   * answered: {@link Ownership.knownOwnedVolumeEvent} tells an earlier volume's events by the last removal of its
   * name, and the event stream this cache follows saw none from before it started, or while it reconnected (found
   * by review, stop 25: on a proxy that had not yet followed events, a volume name taken in the second the victim
   * removed its volume replayed the victim's events, its container's full id with them).
   *
   * @param since - the replay's `since`, as the client sent it (the engine reads it); `0` for the whole buffer
   * @returns `undefined` once learnt (a `since` later than now is learnt from the whole buffer: see below);
   *   otherwise the engine's answer, for the client: the replay must not go on unlearnt
   */
  async learnVolumeRemovals(since: string): Promise<{ status: number; body: unknown } | undefined> {
    const reply = await this.#engine.request({
      path: '/events',
      query: {
        since,
        until: (Date.now() / 1000).toFixed(3),
        filters: JSON.stringify({ type: ['volume'], event: ['destroy'] }),
      },
    });
    const text = await reply.text();
    // a `since` later than now: a live stream from then on, which replays nothing, unless its nanoseconds are past
    // what the engine's int64 holds (from 2262 on), which wrap and replay its whole buffer (found by review, stop
    // 26): the whole buffer is learned
    if (reply.status === 400) return since === '0' ? undefined : this.learnVolumeRemovals('0');
    // a `since` the engine cannot read (it answers 500), or an engine in trouble: the client gets what it said
    if (reply.status !== 200) return { status: reply.status, body: parsedOr(text) };
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const e = JSON.parse(line) as {
        Type?: string;
        Action?: string;
        Actor?: { ID?: string };
        timeNano?: number;
      };
      if (e.Type === 'volume' && e.Action === 'destroy' && e.Actor?.ID && typeof e.timeNano === 'number')
        this.#noteVolumeGone(e.Actor.ID, e.timeNano);
    }
    return undefined;
  }

  /** Stops following events. */
  close(): void {
    this.#stopped = true;
    this.#abort?.abort();
    clearInterval(this.#volumeCheck);
  }
}

/** The engine's JSON answer, or its text as a message. */
function parsedOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.trim() };
  }
}

/** How many volume names' last removal the watcher keeps. */
const GONE_KEPT = 10_000;

/** Sets a name's value as the newest of a map that keeps the newest {@link GONE_KEPT} names. */
function keepNewest(map: Map<string, number>, name: string, value: number): void {
  map.delete(name);
  map.set(name, value);
  if (map.size > GONE_KEPT) map.delete(map.keys().next().value!);
}

/** The engine's time of a volume's making (`CreatedAt`), in ms; now when it is not readable. */
function madeAt(created: string | undefined): number {
  const at = Date.parse(created ?? '');
  return Number.isNaN(at) ? Date.now() : at;
}
