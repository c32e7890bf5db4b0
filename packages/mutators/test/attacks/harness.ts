import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createProxy, type DockerProxy } from '@dockhand/core';
import { pino } from 'pino';
import { Pool } from 'undici';
import { expect } from 'vitest';
import { workshopTenant } from '../../src/index.ts';

/** The engine the attacks are aimed through (and checked on, straight). */
export const ENGINE_SOCKET = (process.env.DOCKHAND_TEST_ENGINE ?? 'unix:///var/run/docker.sock').replace(
  /^unix:\/\//,
  '',
);

/** One HTTP answer, read whole. */
export interface Reply {
  status: number;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: Engine API answers of many shapes, checked by the assertions
  json: any;
}

/** A client of one unix socket. */
export interface Client {
  pool: Pool;
  socket: string;
  request(
    method: string,
    path: string,
    options?: { body?: unknown; raw?: string | Buffer; headers?: Record<string, string> },
  ): Promise<Reply>;
}

/** Makes a client of a unix socket (the engine, or a proxy). */
export function client(socket: string): Client {
  const pool = new Pool('http://docker', { socketPath: socket, connections: 8 });
  return {
    pool,
    socket,
    async request(method, path, options = {}) {
      const headers: Record<string, string> = { ...options.headers };
      let body: string | Buffer | undefined = options.raw;
      if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await pool.request({ method: method as 'GET', path, headers, body: body ?? null });
      const text = await res.body.text();
      let json: unknown;
      try {
        json = text === '' ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.statusCode, text, json };
    },
  };
}

/** A tenant's proxy: its socket, a client of it, its tenant name and volumes. */
export interface Tenant {
  name: string;
  proxy: DockerProxy;
  api: Client;
  socket: string;
  dockerHost: string;
  projectVolume: string;
  socketVolume: string;
  /** The tenant's own network (the preset's `network`), where its containers go in place of `bridge`. */
  network: string;
  /** The proxy's access log, one entry per request (`lane: true` for those it forwarded as bytes). */
  requests: Record<string, unknown>[];
}

/** The attacker, the victim and the engine, all labelled with one unique `dockhand.test` value. */
export interface Arena extends AsyncDisposable {
  run: string;
  engine: Client;
  mallory: Tenant;
  victim: Tenant;
  /** Labels for anything created straight on the engine for the victim. */
  victimLabels: Record<string, string>;
  /** Creates a container straight on the engine as the victim's; returns its full id. */
  victimContainer(name: string, extra?: Record<string, unknown>, start?: boolean): Promise<string>;
  /** Creates a container through the attacker's proxy; returns its full id. */
  ownContainer(name: string, extra?: Record<string, unknown>): Promise<string>;
  /** Lists containers on the engine carrying this run's label. */
  engineContainers(): Promise<{ Id: string; Names: string[]; Labels: Record<string, string> }[]>;
  /** Inspects straight on the engine. */
  inspect(kind: 'containers' | 'networks' | 'volumes' | 'images', ref: string): Promise<Reply>;
}

const dirs: string[] = [];

async function startTenant(engine: Client, run: string, who: string): Promise<Tenant> {
  // no `-` in a tenant's name: shared-network.test.ts shares a network, which takes only such names
  const name = `${run}_${who}`;
  const projectVolume = `${name}_project`;
  const socketVolume = `${name}_socket`;
  for (const v of [projectVolume, socketVolume]) {
    const r = await engine.request('POST', '/volumes/create', {
      body: { Name: v, Labels: { 'dockhand.test': run } },
    });
    expect(r.status).toBe(201);
  }
  // the tenant's own network, in place of the engine's bridge, as the workshop instance's network
  const network = `${name}_default`;
  const n = await engine.request('POST', '/networks/create', {
    body: { Name: network, Labels: { 'dockhand.test': run } },
  });
  expect(n.status, n.text).toBe(201);
  const dir = await mkdtemp(join(tmpdir(), 'dockhand-attack-'));
  dirs.push(dir);
  const socket = join(dir, 'docker.sock');
  // where the proxy sees the project volume's files, for engines before API 1.45 (tests run beside the engine)
  const projectMount = (await engine.request('GET', `/volumes/${projectVolume}`)).json.Mountpoint as string;
  const requests: Record<string, unknown>[] = [];
  const log = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'request') requests.push(entry);
      }
      done();
    },
  });
  const proxy = createProxy({
    upstream: `unix://${ENGINE_SOCKET}`,
    middleware: [
      workshopTenant({
        tenant: name,
        projectVolume,
        socketVolume,
        projectMount,
        network,
        helperImage: 'busybox:latest',
      }),
    ],
    logger: pino({ level: 'info' }, log),
    accessLog: true,
  });
  await proxy.listen(socket);
  return {
    name,
    proxy,
    api: client(socket),
    socket,
    dockerHost: `unix://${socket}`,
    projectVolume,
    socketVolume,
    network,
    requests,
  };
}

/**
 * Starts an attacker ("mallory") and a victim tenant proxy on one engine. Everything is labelled
 * `dockhand.test=<run>` or with one of the two tenant names, and removed on dispose.
 */
export async function arena(): Promise<Arena> {
  const run = `atk_${randomUUID().slice(0, 8)}`;
  const engine = client(ENGINE_SOCKET);
  const mallory = await startTenant(engine, run, 'mallory');
  const victim = await startTenant(engine, run, 'victim');
  const victimLabels = { 'dockhand.test': run, 'dockhand.tenant': victim.name };
  const created = async (r: Reply): Promise<string> => {
    expect(r.status, r.text).toBe(201);
    return r.json.Id as string;
  };
  return {
    run,
    engine,
    mallory,
    victim,
    victimLabels,
    async victimContainer(name, extra = {}, start = true) {
      const id = await created(
        await engine.request('POST', `/containers/create?name=${name}`, {
          body: {
            Image: 'busybox',
            Cmd: ['sleep', '3600'],
            Env: ['SECRET=victim-secret'],
            Labels: victimLabels,
            ...extra,
          },
        }),
      );
      if (start) expect((await engine.request('POST', `/containers/${id}/start`)).status).toBe(204);
      return id;
    },
    async ownContainer(name, extra = {}) {
      return created(
        await mallory.api.request('POST', `/containers/create?name=${name}`, {
          body: { Image: 'busybox', Cmd: ['sleep', '3600'], Labels: { 'dockhand.test': run }, ...extra },
        }),
      );
    },
    async engineContainers() {
      const filters = encodeURIComponent(JSON.stringify({ label: [`dockhand.test=${run}`] }));
      return (await engine.request('GET', `/containers/json?all=1&filters=${filters}`)).json;
    },
    inspect(kind, ref) {
      const path =
        kind === 'containers' || kind === 'images'
          ? `/${kind}/${encodeURIComponent(ref)}/json`
          : `/${kind}/${encodeURIComponent(ref)}`;
      return engine.request('GET', path);
    },
    async [Symbol.asyncDispose]() {
      // the engine first: whatever happens to the proxies' shutdown, nothing is left behind
      await cleanup(engine, [
        `dockhand.test=${run}`,
        `dockhand.tenant=${mallory.name}`,
        `dockhand.tenant=${victim.name}`,
      ]);
      await Promise.all([mallory.api.pool.destroy(), victim.api.pool.destroy()]);
      await mallory.proxy.close();
      await victim.proxy.close();
      await engine.pool.close();
      await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/**
 * A second proxy of a tenant (same tenant, volumes and network), on a socket of its own: what the first proxy
 * holds back per proxy (`holdNames`, the count of running builds) it does not.
 *
 * @param upstream - its engine (default: the real one)
 */
export async function secondProxy(
  tenant: Tenant,
  upstream = `unix://${ENGINE_SOCKET}`,
): Promise<{ api: Client; socket: string } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'dockhand-second-'));
  const socket = join(dir, 'docker.sock');
  const proxy = createProxy({
    upstream,
    middleware: [
      workshopTenant({
        tenant: tenant.name,
        projectVolume: tenant.projectVolume,
        socketVolume: tenant.socketVolume,
        network: tenant.network,
        helperImage: 'busybox:latest',
      }),
    ],
  });
  await proxy.listen(socket);
  const api = client(socket);
  return {
    api,
    socket,
    async [Symbol.asyncDispose]() {
      await api.pool.destroy();
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A second proxy of a tenant ({@link secondProxy}) whose engine is a recording proxy (a plain core proxy) in front
 * of the real one: `seen` holds each request it passed on, as `METHOD path?query` with the query decoded, and
 * `done` the same line once the engine's answer has come back.
 *
 * @param delay - how long (ms) the recording proxy holds a request before it passes it on (default: none), to
 *   widen a window between the tenant's proxy's check and the engine's use
 */
export async function tappedProxy(
  tenant: Tenant,
  delay: (line: string) => number = () => 0,
): Promise<{ api: Client; socket: string; seen: string[]; done: string[] } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'dockhand-tap-'));
  const seen: string[] = [];
  const done: string[] = [];
  const tap = createProxy({
    upstream: `unix://${ENGINE_SOCKET}`,
    middleware: [
      async (ctx, next) => {
        const line = `${ctx.method} ${ctx.path}?${decodeURIComponent(ctx.request.search)}`;
        seen.push(line);
        const ms = delay(line);
        if (ms > 0) await new Promise((r) => setTimeout(r, ms));
        await next();
        done.push(line);
      },
    ],
  });
  await tap.listen(join(dir, 'tap.sock'));
  const second = await secondProxy(tenant, `unix://${join(dir, 'tap.sock')}`);
  return {
    api: second.api,
    socket: second.socket,
    seen,
    done,
    async [Symbol.asyncDispose]() {
      await second[Symbol.asyncDispose]();
      await tap.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A second proxy of a tenant ({@link secondProxy}) whose engine answers the first request of each kind `fault`
 * picks with a 500 of its own (an engine in trouble), and passes everything else to the real one.
 *
 * @param fault - given each request the proxy sends (`GET /images/x/json?...`), whether to fail it
 * @param times - how many requests to fail in all
 */
export async function faultedProxy(
  tenant: Tenant,
  fault: (line: string) => boolean,
  times = 1,
): Promise<{ api: Client; faulted: string[] } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'dockhand-fault-'));
  const faulted: string[] = [];
  const engine = createProxy({
    upstream: `unix://${ENGINE_SOCKET}`,
    middleware: [
      async (ctx, next) => {
        const line = `${ctx.method} ${decodeURIComponent(ctx.path)}?${decodeURIComponent(ctx.request.search)}`;
        if (faulted.length < times && fault(line)) {
          faulted.push(line);
          ctx.respond(500, { message: 'an engine in trouble (test)' });
          return;
        }
        await next();
      },
    ],
  });
  await engine.listen(join(dir, 'engine.sock'));
  const second = await secondProxy(tenant, `unix://${join(dir, 'engine.sock')}`);
  return {
    api: second.api,
    faulted,
    async [Symbol.asyncDispose]() {
      await second[Symbol.asyncDispose]();
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Removes containers, networks, volumes and images carrying any of the labels, straight on the engine. */
export async function cleanup(engine: Client, labels: string[]): Promise<void> {
  for (const label of labels) {
    const f = encodeURIComponent(JSON.stringify({ label: [label] }));
    const cs = (await engine.request('GET', `/containers/json?all=1&filters=${f}`)).json ?? [];
    for (const c of cs) await engine.request('DELETE', `/containers/${c.Id}?force=1&v=1`);
  }
  for (const label of labels) {
    const f = encodeURIComponent(JSON.stringify({ label: [label] }));
    const ns = (await engine.request('GET', `/networks?filters=${f}`)).json ?? [];
    for (const n of ns) await engine.request('DELETE', `/networks/${n.Id}`);
    const vs = (await engine.request('GET', `/volumes?filters=${f}`)).json?.Volumes ?? [];
    for (const v of vs) await engine.request('DELETE', `/volumes/${encodeURIComponent(v.Name)}?force=1`);
    const is = (await engine.request('GET', `/images/json?filters=${f}`)).json ?? [];
    for (const i of is) await engine.request('DELETE', `/images/${i.Id}?force=1`);
  }
}

/** Asserts a Docker-style refusal: the status and a `{"message"}` body (matching `message` when given). */
export function refused(r: Reply, status: number, message?: RegExp | string): void {
  expect(r.status, r.text).toBe(status);
  expect(r.json, r.text).toEqual({ message: expect.any(String) });
  if (message !== undefined) expect(r.json.message).toMatch(message);
}

/**
 * Asserts the refusal of a build: a `200` stream of one message, `{"errorDetail":{"message"},"error"}`, as the
 * engine reports a build that failed (matching `message` when given). One message and no more: the engine, which
 * writes its steps first, never got the build.
 */
export function refusedBuild(r: Pick<Reply, 'status' | 'text'>, message?: RegExp | string): void {
  expect(r.status, r.text).toBe(200);
  const lines = r.text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { error?: string; errorDetail?: { message?: string } });
  expect(lines, r.text).toEqual([
    { errorDetail: { message: expect.any(String) }, error: expect.any(String) },
  ]);
  expect(lines[0]!.error).toBe(lines[0]!.errorDetail!.message);
  if (message !== undefined) expect(lines[0]!.error).toMatch(message);
}

/** The busybox image id, to check shared images stay unchanged. */
export async function imageId(engine: Client, ref: string): Promise<string | undefined> {
  const r = await engine.request('GET', `/images/${encodeURIComponent(ref)}/json`);
  return r.status === 200 ? (r.json.Id as string) : undefined;
}

/** A tar archive of the given files (a build context, an image archive), made with the system `tar`. */
export async function tarOf(files: Record<string, string | Buffer>): Promise<Buffer> {
  const { execFile } = await import('node:child_process');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'dockhand-attack-tar-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), content);
    }
    return await new Promise<Buffer>((resolve, reject) =>
      execFile(
        'tar',
        ['-c', '-C', dir, '.'],
        { encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 },
        (err, out) => (err ? reject(err) : resolve(out)),
      ),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs a classic-builder build through a client; returns the reply (a JSON-lines stream) and the image id. */
export async function build(
  api: Client,
  query: string,
  dockerfile: string,
): Promise<{ reply: Reply; id?: string }> {
  const reply = await api.request('POST', `/build?${query}`, {
    raw: await tarOf({ Dockerfile: dockerfile }),
    headers: { 'content-type': 'application/x-tar' },
  });
  const id = /"aux":\{"ID":"(sha256:[0-9a-f]{64})"\}/.exec(reply.text)?.[1];
  return { reply, ...(id ? { id } : {}) };
}
