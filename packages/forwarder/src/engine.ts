import { Pool } from 'undici';
import { ForwarderError, ForwarderErrorCode } from './errors.ts';

/** The part of an Engine API `PortBinding` the forwarder reads. */
export interface PortBinding {
  HostIp?: string;
  HostPort?: string;
}

/** The part of an Engine API `EndpointSettings` the forwarder reads. */
export interface EndpointSettings {
  NetworkID?: string;
  IPAddress?: string;
  IPPrefixLen?: number;
  Gateway?: string;
  GlobalIPv6Address?: string;
  GlobalIPv6PrefixLen?: number;
}

/** The part of an Engine API `ContainerInspectResponse` the forwarder reads. */
export interface ContainerInspect {
  Id: string;
  Name: string;
  State: { Running: boolean; Paused: boolean; Restarting?: boolean; StartedAt?: string };
  Config: { Labels?: Record<string, string> | null };
  NetworkSettings: {
    Ports?: Record<string, PortBinding[] | null> | null;
    Networks?: Record<string, EndpointSettings> | null;
  };
}

/** The part of an Engine API event message (`EventMessage`) the forwarder reads. */
export interface EngineEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
}

/**
 * The few Engine API calls the forwarder makes, over one undici `Pool`.
 *
 * @internal
 */
export interface EngineClient extends AsyncDisposable {
  /** `ContainerList` of running containers, optionally filtered by `label` (`k` or `k=v`) filters. */
  listRunning(labels: readonly string[]): Promise<string[]>;
  /** `ContainerInspect`; `undefined` when the container no longer exists. */
  inspect(id: string): Promise<ContainerInspect | undefined>;
  /** `NetworkConnect`. */
  connect(network: string, container: string): Promise<void>;
  /** `SystemEvents` as an async iterable; resolves once the engine answered with 200. */
  events(signal: AbortSignal): Promise<AsyncIterable<EngineEvent>>;
  close(): Promise<void>;
}

/**
 * Parses `unix:///path`, a bare socket path, `tcp://host:port` or `http://host:port` into an undici origin.
 *
 * @param dockerHost - a `DOCKER_HOST`-style address
 * @returns the origin and, for unix sockets, the socket path
 * @example
 * ```ts
 * parseDockerHost('unix:///var/run/docker.sock'); // { origin: 'http://localhost', socketPath: '/var/run/docker.sock' }
 * ```
 */
export function parseDockerHost(dockerHost: string): { origin: string; socketPath?: string } {
  if (dockerHost.startsWith('unix://'))
    return { origin: 'http://localhost', socketPath: dockerHost.slice(7) };
  if (dockerHost.startsWith('/')) return { origin: 'http://localhost', socketPath: dockerHost };
  const m = /^(tcp|http):\/\/([^/]+?)\/?$/.exec(dockerHost);
  if (m) return { origin: `http://${m[2]}` };
  throw new ForwarderError(
    ForwarderErrorCode.InvalidOption,
    `dockerHost must be unix:///path/to/docker.sock or tcp://host:port, not "${dockerHost}"`,
  );
}

/**
 * Creates the engine client used by the forwarder.
 *
 * @param dockerHost - a `DOCKER_HOST`-style address, see {@link parseDockerHost}
 * @returns the client
 * @internal
 */
export function createEngineClient(dockerHost: string): EngineClient {
  const { origin, socketPath } = parseDockerHost(dockerHost);
  const pool = new Pool(origin, { connections: 8, ...(socketPath ? { socketPath } : {}) });

  async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
    try {
      return await pool.request({
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
    } catch (cause) {
      throw new ForwarderError(
        ForwarderErrorCode.EngineUnreachable,
        `cannot reach the Docker engine at ${dockerHost}: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  async function failed(res: { statusCode: number; body: { text(): Promise<string> } }, what: string) {
    const text = await res.body.text().catch(() => '');
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {}
    return new ForwarderError(
      ForwarderErrorCode.EngineUnreachable,
      `${what} failed with ${res.statusCode}: ${message}`,
    );
  }

  return {
    async listRunning(labels) {
      const filters = JSON.stringify({ status: ['running'], ...(labels.length ? { label: labels } : {}) });
      const res = await call('GET', `/containers/json?filters=${encodeURIComponent(filters)}`);
      if (res.statusCode !== 200) throw await failed(res, 'listing containers');
      const list = (await res.body.json()) as { Id: string }[];
      return list.map((c) => c.Id);
    },
    async inspect(id) {
      const res = await call('GET', `/containers/${encodeURIComponent(id)}/json`);
      if (res.statusCode === 404) {
        await res.body.dump();
        return undefined;
      }
      if (res.statusCode !== 200) throw await failed(res, `inspecting container ${id}`);
      return (await res.body.json()) as ContainerInspect;
    },
    async connect(network, container) {
      const res = await call('POST', `/networks/${encodeURIComponent(network)}/connect`, {
        Container: container,
      });
      if (res.statusCode === 200) {
        await res.body.dump();
        return;
      }
      const err = await failed(res, `connecting container ${container} to network ${network}`);
      // 403 "already exists in network" is success for us.
      if (/already exists|already attached/i.test(err.message)) return;
      throw new ForwarderError(ForwarderErrorCode.AttachFailed, err.message);
    },
    async events(signal) {
      const filters = JSON.stringify({ type: ['container', 'network'] });
      let res: Awaited<ReturnType<Pool['request']>>;
      try {
        res = await pool.request({
          method: 'GET',
          path: `/events?filters=${encodeURIComponent(filters)}`,
          signal,
          headersTimeout: 30_000,
          bodyTimeout: 0,
        });
      } catch (cause) {
        throw new ForwarderError(
          ForwarderErrorCode.EngineUnreachable,
          `cannot follow events at ${dockerHost}: ${(cause as Error).message}`,
          { cause },
        );
      }
      if (res.statusCode !== 200) throw await failed(res, 'following events');
      const body = res.body;
      return (async function* () {
        let buffered = '';
        body.setEncoding('utf8');
        for await (const chunk of body as AsyncIterable<string>) {
          buffered += chunk;
          let nl = buffered.indexOf('\n');
          while (nl >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line) yield JSON.parse(line) as EngineEvent;
            nl = buffered.indexOf('\n');
          }
        }
      })();
    },
    async close() {
      await pool.destroy();
    },
    async [Symbol.asyncDispose]() {
      await pool.destroy();
    },
  };
}
