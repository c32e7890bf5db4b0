// Benchmark: the workshop tenant pipeline against the engine socket direct and the pass-through proxy, side by
// side, interleaved, in one run, after one round per case that is not measured. The tenant owns 20 of 200
// containers. Two further references show the floor on this machine and are asked what direct is asked: `node`, a
// Node.js process that copies bytes and parses nothing (scripts/node-relay.ts), and `splice`, a C relay that moves
// bytes with splice(2) (scripts/splice-relay.c, built with `cc` where there is one). For the contestants in a
// Node.js process of their own, the CPU time they spend per request is measured too.
//   node packages/mutators/bench/tenant.bench.ts [--quick]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { forkContestant } from '../../../scripts/contestant.ts';
import { startSpliceRelay } from '../../../scripts/splice-relay.ts';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 7;
const ENGINE = '/var/run/docker.sock';
const dir = mkdtempSync(join(tmpdir(), 'dockhand-tenant-bench-'));
const run = `bench-${process.pid}`;
const tenant = `bench-tenant-${process.pid}`;
const sh = (args: string[]) =>
  execFileSync('docker', args, {
    encoding: 'utf8',
    env: { ...process.env, DOCKER_HOST: `unix://${ENGINE}` },
  }).trim();

interface Target {
  name: string;
  socket: string;
  stop(): void;
  /** The CPU time the contestant's process used so far, in µs (a contestant in a Node.js process of its own). */
  cpu?(): Promise<number>;
}

async function serve(name: string, tenantName: string): Promise<Target> {
  const socket = join(dir, `${name}.sock`);
  const proxy = await forkContestant(
    new URL('./serve.ts', import.meta.url).pathname,
    [socket, tenantName, `${run}-project`, `${run}-socket`],
    `the ${name} proxy`,
  );
  return { name, socket, stop: proxy.stop, cpu: proxy.cpu };
}

interface Sample {
  rps: number;
  p50: number;
  /** CPU µs per request, for a contestant that reports its CPU time. */
  cpu: number | undefined;
}
async function load(
  target: Target,
  n: number,
  conc: number,
  req: (pool: Pool, i: number) => Promise<void>,
): Promise<Sample> {
  const pool = new Pool('http://docker', { socketPath: target.socket, connections: conc });
  const lat: number[] = [];
  const cpu0 = await target.cpu?.();
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (i < n) {
        const k = i++;
        const s = performance.now();
        await req(pool, k);
        lat.push(performance.now() - s);
      }
    }),
  );
  const dt = performance.now() - t0;
  const cpu1 = await target.cpu?.();
  await pool.close();
  lat.sort((a, b) => a - b);
  const cpu = cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / n;
  return { rps: (n / dt) * 1000, p50: lat[lat.length >> 1]!, cpu };
}
const get = (path: string) => async (pool: Pool) => {
  const r = await pool.request({ method: 'GET', path });
  await r.body.arrayBuffer();
  if (r.statusCode !== 200) throw new Error(`${path}: ${r.statusCode}`);
};
const createDelete = (labels: Record<string, string>) => async (pool: Pool) => {
  const r = await pool.request({
    method: 'POST',
    path: '/containers/create',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ Image: 'busybox', Cmd: ['true'], Labels: labels }),
  });
  const { Id } = (await r.body.json()) as { Id: string };
  if (r.statusCode !== 201) throw new Error(`create: ${r.statusCode}`);
  const d = await pool.request({ method: 'DELETE', path: `/containers/${Id}` });
  await d.body.arrayBuffer();
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const ids: string[] = [];
const targets: Target[] = [];
try {
  sh(['volume', 'create', '--label', `dockhand.test=${run}`, `${run}-project`]);
  sh(['volume', 'create', '--label', `dockhand.test=${run}`, `${run}-socket`]);
  for (let i = 0; i < 200; i++) {
    const mine = i < 20 ? ['--label', `dockhand.tenant=${tenant}`] : [];
    ids.push(sh(['create', '--label', `dockhand.test=${run}`, ...mine, 'busybox', 'true']));
  }
  targets.push({ name: 'direct', socket: ENGINE, stop() {} });
  targets.push(await serve('pass-through', '-'));
  targets.push(await serve('tenant', tenant));
  const nodeSocket = join(dir, 'node.sock');
  const nodeRelay = await forkContestant(
    new URL('../../../scripts/node-relay.ts', import.meta.url).pathname,
    [nodeSocket, ENGINE],
    'the node relay',
  );
  targets.push({ name: 'node', socket: nodeSocket, stop: nodeRelay.stop, cpu: nodeRelay.cpu });
  const spliceSocket = join(dir, 'splice.sock');
  const relay = await startSpliceRelay(`unix:${spliceSocket}`, `unix:${ENGINE}`);
  if (relay) targets.push({ name: 'splice', socket: spliceSocket, stop: () => relay.stop() });
  const own = ids[0]!;
  const tenantFilter = encodeURIComponent(JSON.stringify({ label: [`dockhand.tenant=${tenant}`] }));
  const cases: {
    name: string;
    n: number;
    conc: number;
    req: (t: string) => (pool: Pool, i: number) => Promise<void>;
  }[] = [
    // the tenant's view: direct and pass-through are asked for the same filtered list the tenant proxy produces
    {
      name: 'GET /containers/json (tenant owns 20 of 200), c=1',
      n: quick ? 300 : 1000,
      conc: 1,
      req: (t) =>
        get(t === 'tenant' ? '/containers/json?all=1' : `/containers/json?all=1&filters=${tenantFilter}`),
    },
    {
      name: 'GET /containers/json (tenant owns 20 of 200), c=16',
      n: quick ? 300 : 1000,
      conc: 16,
      req: (t) =>
        get(t === 'tenant' ? '/containers/json?all=1' : `/containers/json?all=1&filters=${tenantFilter}`),
    },
    {
      name: 'GET /containers/{id}/json (own container), c=1',
      n: quick ? 500 : 2000,
      conc: 1,
      req: () => get(`/containers/${own}/json`),
    },
    {
      name: 'GET /containers/{id}/json (own container), c=16',
      n: quick ? 500 : 2000,
      conc: 16,
      req: () => get(`/containers/${own}/json`),
    },
    {
      name: 'POST /containers/create + DELETE, c=1',
      n: quick ? 20 : 60,
      conc: 1,
      req: () => createDelete({ 'dockhand.test': run, 'dockhand.tenant': tenant }),
    },
  ];
  // the ownership cache warm, as the targets are stated: the tenant proxy learns its container on a connection of
  // its own, since a connection whose first request meets the pipeline stays on it
  for (const t of targets) {
    for (const c of cases.slice(0, 3)) {
      const warm = new Pool('http://docker', { socketPath: t.socket, connections: 1 });
      await c.req(t.name)(warm, 0);
      await warm.close();
    }
  }
  for (const c of cases) {
    const samples = new Map(targets.map((t) => [t.name, [] as Sample[]]));
    // a round that is not measured: the proxies' code compiled for this case (a Node.js process takes a few
    // thousand requests to reach its steady state) and the engine's caches warm, so every measured round compares
    // steady states
    for (const t of targets) await load(t, c.n, c.conc, c.req(t.name));
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + r) % targets.length]!;
        samples.get(t.name)!.push(await load(t, c.n, c.conc, c.req(t.name)));
      }
    }
    const direct = median(samples.get('direct')!.map((s) => s.rps));
    console.log(`\n## ${c.name}`);
    console.table(
      targets.map((t) => {
        const s = samples.get(t.name)!;
        const cpu = s.map((x) => x.cpu).filter((x) => x !== undefined);
        return {
          target: t.name,
          'req/s': Math.round(median(s.map((x) => x.rps))),
          'p50 ms': Math.round(median(s.map((x) => x.p50)) * 1000) / 1000,
          'ratio vs direct': Math.round((median(s.map((x) => x.rps)) / direct) * 100) / 100,
          'CPU µs/req': cpu.length === 0 ? '-' : Math.round(median(cpu)),
        };
      }),
    );
  }
} finally {
  for (const t of targets) t.stop();
  const left = sh(['ps', '-aq', '--filter', `label=dockhand.test=${run}`])
    .split('\n')
    .filter(Boolean);
  if (left.length) sh(['rm', '-f', ...left]);
  sh(['volume', 'rm', '-f', `${run}-project`, `${run}-socket`]);
  rmSync(dir, { recursive: true, force: true });
}
