import { type Dispatcher, Pool } from 'undici';
import { EngineIdentity } from './engine-identity.ts';
import { coreError, type DockhandError } from './errors.ts';

/** Where the engine listens, parsed from a `DOCKER_HOST`-style URL. */
export type UpstreamAddress =
  | { readonly socketPath: string }
  | { readonly host: string; readonly port: number };

/**
 * Parses a `DOCKER_HOST`-style URL: `unix:///var/run/docker.sock`, a bare socket path, or `tcp://host:port`.
 *
 * @param url - the address
 * @returns the socket path or host and port
 * @throws TypeError for anything else
 * @example
 * ```ts
 * parseDockerHost('unix:///var/run/docker.sock'); // { socketPath: '/var/run/docker.sock' }
 * parseDockerHost('tcp://127.0.0.1:2375'); // { host: '127.0.0.1', port: 2375 }
 * ```
 */
export function parseDockerHost(url: string): UpstreamAddress {
  if (url.startsWith('/')) return { socketPath: url };
  if (url.startsWith('unix://')) {
    const socketPath = url.slice('unix://'.length);
    if (!socketPath.startsWith('/')) throw new TypeError(`DOCKER_HOST socket path must be absolute: ${url}`);
    return { socketPath };
  }
  const m = /^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(url);
  if (m) return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new TypeError(`unsupported DOCKER_HOST (use unix:///path or tcp://host:port): ${url}`);
}

/**
 * Creates the undici pool the proxy forwards with. It has no connection limit, so long streams (events, logs)
 * never hold up other requests, and no timeouts, so they are never cut.
 *
 * @param address - the engine's address
 * @returns an undici `Pool`
 * @example
 * ```ts
 * const pool = createUpstreamPool(parseDockerHost('unix:///var/run/docker.sock'));
 * ```
 */
export function createUpstreamPool(address: UpstreamAddress): Pool {
  const options = { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 30_000, pipelining: 1 };
  if ('socketPath' in address)
    return new Pool('http://docker', { ...options, socketPath: address.socketPath });
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return new Pool(`http://${host}:${address.port}`, options);
}

/** The engine's answer to a middleware's own call. */
export interface UpstreamReply {
  /** The HTTP status. */
  readonly status: number;
  /** The response headers, lower-case names. */
  readonly headers: Record<string, string | string[] | undefined>;
  /** Reads and parses the body. */
  json<T = unknown>(): Promise<T>;
  /** Reads the body as text. */
  text(): Promise<string>;
}

/** The error codes of a connection to the engine that was never made. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Options of {@link Upstream.request}. */
export interface UpstreamRequest {
  /** The method; `GET` when left out. */
  readonly method?: string;
  /** The path, e.g. `/containers/abc/json`. */
  readonly path: string;
  /** Query parameters. */
  readonly query?: Record<string, string> | URLSearchParams;
  /** A JSON body. */
  readonly body?: unknown;
  /** A body sent as it is (`application/x-tar`, for the archive routes), in place of a JSON one. */
  readonly tar?: Buffer;
}

/**
 * The engine, for a middleware's own calls (an inspect, a list). It shares the proxy's connection pool.
 *
 * @example
 * ```ts
 * const reply = await ctx.upstream.request({ path: `/containers/${id}/json` });
 * if (reply.status === 200) console.log((await reply.json<{ Id: string }>()).Id);
 * ```
 */
export class Upstream {
  /** The undici dispatcher every request goes through. */
  readonly pool: Pool;
  /** The engine's identity headers, learned from its answers, which the proxy's own answers carry too. */
  readonly identity: EngineIdentity = new EngineIdentity(() => {
    this.#learning ??= this.learnIdentity().finally(() => {
      this.#learning = undefined;
    });
  });
  #learning: Promise<void> | undefined;

  /** @param pool - the undici pool to the engine */
  constructor(pool: Pool) {
    this.pool = pool;
  }

  /**
   * Sends one request to the engine and reads the status and headers.
   *
   * @param options - method, path, query and a JSON or tar body
   * @returns the reply, with a body to read once
   * @throws {@link DockhandError} `DOCKHAND_UPSTREAM_UNREACHABLE` (502) when the engine cannot be reached,
   * `DOCKHAND_UPSTREAM_FAILED` (502) when its connection fails before the answer's head
   */
  async request(options: UpstreamRequest): Promise<UpstreamReply> {
    const query = options.query ? new URLSearchParams(options.query).toString() : '';
    const hasBody = options.body !== undefined;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.pool.request({
        method: (options.method ?? 'GET') as 'GET',
        path: query ? `${options.path}?${query}` : options.path,
        headers: options.tar
          ? { 'content-type': 'application/x-tar' }
          : hasBody
            ? { 'content-type': 'application/json' }
            : undefined,
        body: options.tar ?? (hasBody ? JSON.stringify(options.body) : null),
      });
    } catch (err) {
      // as the proxy answers for a request it forwards: a middleware's own lookup (an ownership check) that finds
      // no engine is a 502, not the proxy's internal error (found by review, stop 24)
      const e = err as NodeJS.ErrnoException;
      throw UNREACHABLE.has(e.code ?? '')
        ? coreError('DOCKHAND_UPSTREAM_UNREACHABLE', `cannot reach the Docker engine: ${e.message}`, e)
        : coreError('DOCKHAND_UPSTREAM_FAILED', `the Docker engine's answer failed: ${e.message}`, e);
    }
    const headers = res.headers;
    this.identity.notice((name) => single(headers[name]));
    return {
      status: res.statusCode,
      headers,
      json: <T>() => res.body.json() as Promise<T>,
      text: () => res.body.text(),
    };
  }

  /**
   * Asks the engine once for its identity (`GET /_ping`), so that the proxy's own answers carry it from the first
   * one. It never fails: an engine that cannot be reached, or does not answer within `timeoutMs`, is asked again by
   * the next answer the proxy reads.
   *
   * @param timeoutMs - how long to wait for the answer
   */
  async learnIdentity(timeoutMs = 1_000): Promise<void> {
    try {
      const res = await this.pool.request({
        method: 'GET',
        path: '/_ping',
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.body.dump();
      this.identity.learn((name) => single(res.headers[name]));
    } catch {
      // learned later, from the engine's next answer
    }
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
