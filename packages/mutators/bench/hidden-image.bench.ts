// Benchmark: does the time of an answer tell another tenant's hidden image from no image? A workshop tenant's proxy
// is asked about images and containers by a 4-digit id prefix (image inspect, a container list's `ancestor`
// filter, container inspect, a replay of events filtered on a container): one of an object another tenant owns,
// and two that start none on the engine,
// interleaved, in one run. The two missing prefixes are the baseline: the hidden prefix's
// median should sit among them, not above (before `scopeImageReads`, stop 24, it sat about 130 µs above).
//   node packages/mutators/bench/hidden-image.bench.ts [--quick]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy } from '@dockhand/core';
import { Pool } from 'undici';
import { workshopTenant } from '../src/index.ts';

const ROUNDS = process.argv.includes('--quick') ? 200 : 800;
const ENGINE = '/var/run/docker.sock';
const run = `bench-hidden-${process.pid}`;
const sh = (args: string[]) =>
  execFileSync('docker', args, {
    encoding: 'utf8',
    env: { ...process.env, DOCKER_HOST: `unix://${ENGINE}` },
  }).trim();
const dir = mkdtempSync(join(tmpdir(), 'dockhand-hidden-bench-'));
const tenant = `${run}-mallory`;
const socket = join(dir, 'tenant.sock');
let image: string | undefined;
try {
  for (const v of ['project', 'socket'])
    sh(['volume', 'create', '--label', `dockhand.test=${run}`, `${run}-${v}`]);
  sh(['network', 'create', '--label', `dockhand.test=${run}`, `${run}-net`]);
  const holder = sh(['create', '--label', `dockhand.test=${run}`, 'busybox', 'true']);
  image = sh(['commit', '--change', `LABEL dockhand.tenant=${run}-victim`, holder, `${run}-victim:1`]);
  sh(['rm', holder]);
  const ids = sh(['images', '-aq', '--no-trunc'])
    .split('\n')
    .map((id) => id.replace('sha256:', ''));
  const missing: string[] = [];
  for (let i = 0; i < 0x10000 && missing.length < 2; i++) {
    const prefix = i.toString(16).padStart(4, '0');
    if (!ids.some((id) => id.startsWith(prefix))) missing.push(prefix);
  }
  const prefixes = {
    hidden: image.replace('sha256:', '').slice(0, 4),
    missing: missing[0]!,
    control: missing[1]!,
  };
  // another tenant's container, busy (60 events to replay), and prefixes that start no container
  const since = Math.floor(Date.now() / 1000) - 1;
  const victim = sh([
    'run',
    '-d',
    '--label',
    `dockhand.test=${run}`,
    '--label',
    `dockhand.tenant=${run}-victim`,
    'busybox',
    'sleep',
    '600',
  ]);
  for (let i = 0; i < 30; i++) {
    sh(['pause', victim]);
    sh(['unpause', victim]);
  }
  const until = Math.floor(Date.now() / 1000) + 1;
  const containerIds = sh(['ps', '-aq', '--no-trunc']).split('\n');
  const free: string[] = [];
  for (let i = 0; i < 0x10000 && free.length < 2; i++) {
    const prefix = i.toString(16).padStart(4, '0');
    if (!containerIds.some((id) => id.startsWith(prefix)) && !free.includes(prefix)) free.push(prefix);
  }
  const containerPrefixes = { hidden: victim.slice(0, 4), missing: free[0]!, control: free[1]! };
  const proxy = createProxy({
    upstream: `unix://${ENGINE}`,
    middleware: [
      workshopTenant({
        tenant,
        projectVolume: `${run}-project`,
        socketVolume: `${run}-socket`,
        network: `${run}-net`,
        helperImage: 'busybox:latest',
      }),
    ],
  });
  await proxy.listen(socket);
  const pool = new Pool('http://docker', { socketPath: socket, connections: 1 });
  const kinds = Object.keys(prefixes) as (keyof typeof prefixes)[];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  // each route by which a tenant names an image by an id prefix and is answered as if there were none
  const routes: [string, (prefix: string) => string, number, typeof prefixes][] = [
    ['GET /images/<4-digit id prefix>/json, 404 each', (p) => `/images/${p}/json`, 404, prefixes],
    [
      'GET /containers/<4-digit id prefix>/json, 404 each',
      (p) => `/containers/${p}/json`,
      404,
      containerPrefixes,
    ],
    [
      'GET /events?since&until&filters={"container":[<4-digit id prefix>]}, nothing each (the victim: 60 events)',
      (p) =>
        `/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ container: [p] }))}`,
      200,
      containerPrefixes,
    ],
    [
      'GET /containers/json?filters={"ancestor":[<4-digit id prefix>]}, [] each',
      (p) => `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ ancestor: [p] }))}`,
      200,
      prefixes,
    ],
  ];
  for (const [title, path, status, prefixes] of routes) {
    const time = async (prefix: string): Promise<number> => {
      const start = performance.now();
      const r = await pool.request({ method: 'GET', path: path(prefix) });
      await r.body.arrayBuffer();
      if (r.statusCode !== status) throw new Error(`${prefix}: ${r.statusCode}`);
      return (performance.now() - start) * 1000;
    };
    const samples = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<
      (typeof kinds)[number],
      number[]
    >;
    for (let i = 0; i < 40; i++) for (const k of kinds) await time(prefixes[k]); // not measured: warm
    for (let i = 0; i < ROUNDS; i++)
      for (let j = 0; j < kinds.length; j++) {
        const k = kinds[(i + j) % kinds.length]!;
        samples[k].push(await time(prefixes[k]));
      }
    const base = median(samples.missing);
    console.log(`\n## ${title}, through a workshop tenant (${ROUNDS} rounds, interleaved)`);
    console.table(
      kinds.map((k) => ({
        prefix: `${k} (${prefixes[k]})`,
        'median µs': Math.round(median(samples[k])),
        'vs missing µs': Math.round(median(samples[k]) - base),
      })),
    );
  }
  await pool.close();
  await proxy.close();
} finally {
  // each step on its own: one that fails (the engine restarted by someone else) leaves the others to run
  const tryTo = (step: () => void) => {
    try {
      step();
    } catch (err) {
      console.error(`cleanup: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  tryTo(() => {
    const left = sh(['ps', '-aq', '--filter', `label=dockhand.test=${run}`])
      .split('\n')
      .filter(Boolean);
    if (left.length) sh(['rm', '-f', ...left]);
  });
  tryTo(() => sh(['rmi', '-f', `${run}-victim:1`]));
  tryTo(() => {
    for (const n of sh(['network', 'ls', '-q', '--filter', `label=dockhand.test=${run}`])
      .split('\n')
      .filter(Boolean))
      sh(['network', 'rm', n]);
  });
  for (const v of ['project', 'socket']) tryTo(() => sh(['volume', 'rm', '-f', `${run}-${v}`]));
  rmSync(dir, { recursive: true, force: true });
}
