import { setTimeout as sleep } from 'node:timers/promises';
import { type Logger, pino } from 'pino';
import { type ContainerInspect, createEngineClient, type EngineClient, type EngineEvent } from './engine.ts';
import { ForwarderError, ForwarderErrorCode } from './errors.ts';
import type { PortForward } from './port-forward.ts';
import { describePortOwner } from './port-owner.ts';
import { createPortRules, type PortSpec } from './port-rules.ts';
import { publishedPorts, resolveTarget, type Target, type TargetMode } from './target.ts';
import { createTcpForward } from './tcp-forward.ts';
import { createUdpForward } from './udp-forward.ts';

/** Options of {@link createForwarder}. */
export interface ForwarderOptions {
  /** The Docker socket: `unix:///path`, a bare path, or `tcp://host:port` (normally the tenant's proxy). */
  dockerHost: string;
  /** Only forward containers with all these labels (`key` or `key=value`), like `docker ps --filter label=`. */
  labels?: readonly string[];
  /** How to reach containers (default `auto`), see {@link TargetMode}. */
  target?: TargetMode;
  /** Connect every forwarded container to this network (name or id) and reach it by its IP there. */
  attachNetwork?: string;
  /** The engine host's address for `published` routes (default: the binding's HostIp, else the default gateway). */
  publishedHost?: string;
  /** Listen on `HostPort + portOffset` (default 0). */
  portOffset?: number;
  /** Only forward these published host ports or ranges (`8080`, `'8000-8999'`). */
  allow?: readonly PortSpec[];
  /** Never forward these published host ports or ranges; wins over `allow`. */
  deny?: readonly PortSpec[];
  /** The pino logger to log to (default: silent). */
  logger?: Logger;
  /** How often to retry a port that was taken (default 1000 ms). */
  retryIntervalMs?: number;
  /** How long a UDP session may see no datagram either way before it is closed (default 60000 ms). */
  udpIdleMs?: number;
  /** Full re-sync period as a safety net besides events (default 30000 ms; 0 disables). */
  resyncIntervalMs?: number;
  /** Longest wait between reconnect attempts to a lost engine (default 2000 ms). */
  maxBackoffMs?: number;
}

/** One forwarded port, as listed by {@link Forwarder.ports}. */
export interface ForwardedPort {
  proto: 'tcp' | 'udp';
  /** The local port listened on (`HostPort + portOffset`). */
  port: number;
  /** The published host port. */
  hostPort: number;
  /** The loopback addresses listening now (empty while the port is taken by someone else). */
  addresses: string[];
  container: { id: string; name: string };
  target: Target;
  /** Open TCP connections, or live UDP sessions. */
  connections: number;
  /** Who else wants or holds this port, if anyone. */
  conflicts: string[];
}

/** A running forwarder; dispose it (or call `close()`) to close every listener. */
export interface Forwarder extends AsyncDisposable {
  /** Every forwarded port with its target container and connection count. */
  ports(): ForwardedPort[];
  /** Re-lists the engine's containers and reconciles every port now. */
  resync(): Promise<void>;
  /** Stops following events and closes every listener and connection. */
  close(): Promise<void>;
}

interface Wanted {
  id: string;
  name: string;
  proto: 'tcp' | 'udp';
  hostPort: number;
  port: number;
  target: Target;
  /** The loopback addresses to listen on. */
  addresses: readonly string[];
}

interface Open {
  fwd: PortForward;
  owner: Wanted;
  /** Addresses whose EADDRINUSE was already reported. */
  reportedInUse: Map<string, string>;
}

const ACTIONS = new Set([
  'start',
  'restart',
  'die',
  'stop',
  'kill',
  'pause',
  'unpause',
  'destroy',
  'rename',
  'connect',
  'disconnect',
]);

function matchesLabels(
  labels: Record<string, string> | null | undefined,
  filters: readonly string[],
): boolean {
  return filters.every((f) => {
    const eq = f.indexOf('=');
    if (eq < 0) return labels?.[f] !== undefined;
    return labels?.[f.slice(0, eq)] === f.slice(eq + 1);
  });
}

function sameTarget(a: Target, b: Target): boolean {
  return a.host === b.host && a.port === b.port && a.via === b.via;
}

/**
 * Starts a forwarder: lists the running containers (matching `labels`), forwards every port they publish to
 * `localhost:<HostPort>` in this network namespace, then follows the engine's events, reconnecting and
 * re-syncing whenever the event stream drops.
 *
 * @param options - see {@link ForwarderOptions}
 * @returns the running forwarder, once the first sync is done
 * @throws ForwarderError `DOCKHAND_FWD_ENGINE_UNREACHABLE` when the engine cannot be reached at start
 * @example
 * ```ts
 * import { pino } from 'pino';
 * await using forwarder = await createForwarder({
 *   dockerHost: 'unix:///var/run/docker.sock',
 *   labels: ['workshop.tenant=alice'],
 *   logger: pino(),
 * });
 * console.log(forwarder.ports());
 * ```
 */
export async function createForwarder(options: ForwarderOptions): Promise<Forwarder> {
  const log = options.logger ?? pino({ level: 'silent' });
  const labels = options.labels ?? [];
  const mode = options.target ?? 'auto';
  if (!['auto', 'network', 'published'].includes(mode)) {
    throw new ForwarderError(ForwarderErrorCode.InvalidOption, `target must be auto, network or published`);
  }
  const rules = createPortRules(options);
  const retryMs = options.retryIntervalMs ?? 1000;
  const resyncMs = options.resyncIntervalMs ?? 30_000;
  const maxBackoff = options.maxBackoffMs ?? 2000;
  const engine: EngineClient = createEngineClient(options.dockerHost);

  /** What each container wants, in the order containers were first seen (earliest wins a contested port). */
  const wanted = new Map<string, Wanted[]>();
  const open = new Map<string, Open>();
  const reportedConflicts = new Set<string>();
  const attachWarned = new Set<string>();
  const abort = new AbortController();
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after everything queued before it: all state changes are serial. */
  function serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  }

  async function inspectForForwarding(id: string): Promise<ContainerInspect | undefined> {
    let info = await engine.inspect(id);
    if (!info?.State.Running || info.State.Paused) return info;
    if (!matchesLabels(info.Config.Labels, labels)) return info;
    if (options.attachNetwork && publishedPorts(info).length > 0) {
      const networks = info.NetworkSettings.Networks ?? {};
      const on = Object.entries(networks).some(
        ([name, ep]) => name === options.attachNetwork || ep.NetworkID?.startsWith(options.attachNetwork!),
      );
      if (!on) {
        try {
          await engine.connect(options.attachNetwork, id);
          info = (await engine.inspect(id)) ?? info;
        } catch (err) {
          if (!attachWarned.has(id)) {
            attachWarned.add(id);
            log.warn({ code: (err as ForwarderError).code, container: id, err }, (err as Error).message);
          }
        }
      }
    }
    return info;
  }

  function wantedOf(info: ContainerInspect): Wanted[] {
    if (!info.State.Running || info.State.Paused || !matchesLabels(info.Config.Labels, labels)) return [];
    const name = info.Name.replace(/^\//, '');
    const out: Wanted[] = [];
    for (const p of publishedPorts(info)) {
      const port = rules.localPort(p.hostPort);
      if (port === undefined) continue;
      const target = resolveTarget(info, p, mode, options.publishedHost, port);
      if (!target) {
        log.warn(
          { code: ForwarderErrorCode.NoRoute, container: name, hostPort: p.hostPort },
          `no route to ${name}:${p.containerPort}/${p.proto} in target mode "${mode}"; not forwarded`,
        );
        continue;
      }
      out.push({
        id: info.Id,
        name,
        proto: p.proto,
        hostPort: p.hostPort,
        port,
        target,
        addresses: p.addresses,
      });
    }
    return out;
  }

  async function reportInUse(o: Open, addresses: string[]): Promise<void> {
    for (const address of addresses) {
      if (o.reportedInUse.has(address)) continue;
      const holder = await describePortOwner(o.fwd.proto, o.fwd.port, address);
      o.reportedInUse.set(address, holder);
      log.warn(
        {
          code: ForwarderErrorCode.PortConflict,
          proto: o.fwd.proto,
          port: o.fwd.port,
          address,
          container: o.owner.name,
          holder,
        },
        `port ${address}:${o.fwd.port}/${o.fwd.proto} for container ${o.owner.name} is already taken by ${holder}; retrying every ${retryMs} ms`,
      );
    }
  }

  async function bindAndLog(o: Open): Promise<void> {
    const before = new Set(o.fwd.bound());
    const result = await o.fwd.bind();
    const added = o.fwd.bound().filter((a) => !before.has(a));
    for (const a of added) o.reportedInUse.delete(a);
    if (added.length > 0) {
      log.info(
        {
          proto: o.fwd.proto,
          port: o.fwd.port,
          addresses: added,
          container: o.owner.name,
          containerId: o.owner.id,
          target: `${o.fwd.target.host}:${o.fwd.target.port}`,
          via: o.fwd.target.via,
        },
        `port opened: localhost:${o.fwd.port}/${o.fwd.proto} -> ${o.owner.name} (${o.fwd.target.host}:${o.fwd.target.port})`,
      );
    }
    for (const f of result.failed) {
      log.error(
        { code: ForwarderErrorCode.PortConflict, port: o.fwd.port, address: f.address, err: f.error },
        `cannot listen on ${f.address}:${o.fwd.port}: ${f.error.message}`,
      );
    }
    await reportInUse(o, result.inUse);
  }

  async function closeOpen(key: string, o: Open, why: string): Promise<void> {
    open.delete(key);
    const addresses = o.fwd.bound();
    await o.fwd.close();
    log.info(
      {
        proto: o.fwd.proto,
        port: o.fwd.port,
        addresses,
        container: o.owner.name,
        containerId: o.owner.id,
        why,
      },
      `port closed: localhost:${o.fwd.port}/${o.fwd.proto} (${o.owner.name}, ${why})`,
    );
  }

  /** Brings the open listeners in line with `wanted`. Runs inside `serial`. */
  async function reconcile(): Promise<void> {
    const byKey = new Map<string, Wanted[]>();
    for (const list of wanted.values()) {
      for (const w of list) {
        const key = `${w.proto}/${w.port}`;
        byKey.set(key, [...(byKey.get(key) ?? []), w]);
      }
    }
    for (const [key, o] of [...open]) {
      const candidates = byKey.get(key) ?? [];
      const still = candidates.find((c) => c.id === o.owner.id);
      if (!still) {
        await closeOpen(key, o, candidates.length ? 'owner gone, handing over' : 'container gone');
      } else if (!sameTarget(still.target, o.fwd.target)) {
        log.info(
          { proto: o.fwd.proto, port: o.fwd.port, container: still.name, target: still.target },
          `port retargeted: localhost:${o.fwd.port}/${o.fwd.proto} -> ${still.target.host}:${still.target.port}`,
        );
        o.fwd.target = still.target;
        o.owner = still;
      } else {
        o.owner = still;
      }
    }
    for (const [key, candidates] of byKey) {
      let o = open.get(key);
      if (!o) {
        const owner = candidates[0]!;
        const fwd =
          owner.proto === 'tcp'
            ? createTcpForward(owner.port, owner.target, owner.addresses)
            : createUdpForward(owner.port, owner.target, owner.addresses, options.udpIdleMs);
        o = { fwd, owner, reportedInUse: new Map() };
        open.set(key, o);
        await bindAndLog(o);
      }
      for (const other of candidates) {
        if (other.id === o.owner.id) continue;
        const id = `${key}|${o.owner.id}|${other.id}`;
        if (reportedConflicts.has(id)) continue;
        reportedConflicts.add(id);
        log.warn(
          {
            code: ForwarderErrorCode.PortConflict,
            proto: other.proto,
            port: other.port,
            container: other.name,
            holder: o.owner.name,
          },
          `port localhost:${other.port}/${other.proto} is published by both ${o.owner.name} and ${other.name}; ` +
            `forwarding to ${o.owner.name}, ${other.name} gets it when ${o.owner.name} lets go`,
        );
      }
    }
    // Forget conflict reports that no longer apply, so a new clash is reported again.
    for (const id of [...reportedConflicts]) {
      const [key, holder, other] = id.split('|');
      const c = byKey.get(key!) ?? [];
      if (open.get(key!)?.owner.id !== holder || !c.some((w) => w.id === other)) reportedConflicts.delete(id);
    }
  }

  async function syncContainer(id: string): Promise<void> {
    const info = await inspectForForwarding(id);
    const list = info ? wantedOf(info) : [];
    if (list.length > 0) {
      // keep first-seen order for known containers
      wanted.set(id, list);
    } else {
      wanted.delete(id);
      attachWarned.delete(id);
    }
    await reconcile();
  }

  async function fullSync(): Promise<void> {
    const ids = await engine.listRunning(labels);
    const next = new Map<string, Wanted[]>();
    const order = [
      ...[...wanted.keys()].filter((id) => ids.includes(id)),
      ...ids.filter((id) => !wanted.has(id)),
    ];
    for (const id of order) {
      const info = await inspectForForwarding(id);
      const list = info ? wantedOf(info) : [];
      if (list.length > 0) next.set(id, list);
    }
    wanted.clear();
    for (const [id, list] of next) wanted.set(id, list);
    await reconcile();
  }

  function onEvent(ev: EngineEvent): void {
    const action = (ev.Action ?? '').split(':')[0]!;
    if (!ACTIONS.has(action)) return;
    const id = ev.Type === 'network' ? ev.Actor?.Attributes?.container : ev.Actor?.ID;
    if (!id) return;
    if (ev.Type === 'network' && !wanted.has(id) && !options.attachNetwork) return;
    if (ev.Type === 'container' && !wanted.has(id) && !matchesLabels(ev.Actor?.Attributes, labels)) return;
    serial(() => syncContainer(id)).catch((err) =>
      log.warn({ err, container: id }, `could not sync container ${id}: ${(err as Error).message}`),
    );
  }

  /** Opens the event stream, then syncs, so that nothing that happens in between is missed. */
  async function connectOnce(): Promise<AsyncIterable<EngineEvent>> {
    const events = await engine.events(abort.signal);
    await serial(fullSync);
    return events;
  }

  async function follow(first: AsyncIterable<EngineEvent>): Promise<void> {
    let events: AsyncIterable<EngineEvent> | undefined = first;
    let backoff = 100;
    while (!closed) {
      try {
        if (!events) {
          events = await connectOnce();
          backoff = 100;
          log.info({ dockerHost: options.dockerHost }, 'reconnected to the engine and re-synced');
        }
        for await (const ev of events) onEvent(ev);
        throw new Error('the event stream ended');
      } catch (err) {
        events = undefined;
        if (closed) return;
        log.warn(
          { code: ForwarderErrorCode.EngineUnreachable, err, retryInMs: backoff },
          `lost the engine's event stream (${(err as Error).message}); reconnecting in ${backoff} ms`,
        );
        await sleep(backoff, undefined, { signal: abort.signal }).catch(() => {});
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  }

  let first: AsyncIterable<EngineEvent>;
  try {
    first = await connectOnce();
  } catch (err) {
    await engine.close();
    for (const o of open.values()) await o.fwd.close();
    throw err;
  }
  log.info({ dockerHost: options.dockerHost, labels, target: mode }, 'forwarder following engine events');
  const following = follow(first);

  const retryTimer = setInterval(() => {
    if ([...open.values()].some((o) => o.reportedInUse.size > 0)) {
      serial(async () => {
        for (const o of open.values()) if (o.reportedInUse.size > 0) await bindAndLog(o);
      }).catch(() => {});
    }
  }, retryMs).unref();
  const resyncTimer =
    resyncMs > 0
      ? setInterval(() => {
          serial(fullSync).catch((err) =>
            log.warn({ err }, `periodic re-sync failed: ${(err as Error).message}`),
          );
        }, resyncMs).unref()
      : undefined;

  const forwarder: Forwarder = {
    ports() {
      return [...open.values()].map((o) => ({
        proto: o.fwd.proto,
        port: o.fwd.port,
        hostPort: o.owner.hostPort,
        addresses: o.fwd.bound(),
        container: { id: o.owner.id, name: o.owner.name },
        target: o.fwd.target,
        connections: o.fwd.connections(),
        conflicts: [
          ...[...o.reportedInUse].map(([address, holder]) => `${address}: ${holder}`),
          ...[...wanted.values()]
            .flat()
            .filter((w) => w.proto === o.fwd.proto && w.port === o.fwd.port && w.id !== o.owner.id)
            .map((w) => `container ${w.name}`),
        ],
      }));
    },
    resync: () => serial(fullSync),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(retryTimer);
      if (resyncTimer) clearInterval(resyncTimer);
      abort.abort();
      await engine.close();
      await following;
      await serial(async () => {
        for (const [key, o] of [...open]) await closeOpen(key, o, 'forwarder closed');
      });
    },
    [Symbol.asyncDispose]: () => forwarder.close(),
  };
  return forwarder;
}
