// Benchmark: direct engine socket against the pass-through proxy (and socat / HAProxy as references when
// installed), side by side, interleaved, in one run. Prints ratios proxy/direct. A further reference, `splice`,
// shows what any user-space proxy can reach on this machine: a C relay that moves bytes with splice(2) and
// parses nothing (scripts/splice-relay.c, built with `cc` where there is one). Another, `node`, shows Node.js's
// own floor: a relay that copies bytes in a Node process and parses nothing (scripts/node-relay.ts).
//   node packages/core/bench/proxy.bench.ts [--quick] [--only=ping,list,archive,echo]
//     [--without=socat,haproxy,splice,node]
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { forkContestant } from '../../../scripts/contestant.ts';
import { startSpliceRelay } from '../../../scripts/splice-relay.ts';

const ENGINE_SOCK = '/var/run/docker.sock';
const quick = process.argv.includes('--quick');
/** The comma-separated values of `--<name>=a,b`, if given. */
const listArg = (name: string) =>
  process.argv
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(',');
// `--only=ping,list,archive,echo` runs some of the cases; `--without=haproxy` leaves a reference contestant out
const only = listArg('only');
const want = (name: string) => !only || only.includes(name);
const without = listArg('without') ?? [];
const ROUNDS = quick ? 3 : 7;
const dir = mkdtempSync(join(tmpdir(), 'dockhand-bench-'));
const LABEL = `dockhand.test=bench-${process.pid}`;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, DOCKER_HOST: `unix://${ENGINE_SOCK}` },
  }).trim();
}
function has(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitSocket(path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(path);
      s.on('connect', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${path} never came up`);
}

// --- the contestants -------------------------------------------------------------------------------------
interface Target {
  name: string;
  socket: string;
  stop(): void;
  /** The CPU time the contestant's process used so far, in ms (the proxy's). */
  cpu?(): Promise<number>;
}
const targets: Target[] = [{ name: 'direct', socket: ENGINE_SOCK, stop() {} }];
// the contestants' processes are killed however the bench ends, a failure before the measurements included
const started: ChildProcess[] = [];
process.on('exit', () => {
  for (const p of started) p.kill();
});

const proxySock = join(dir, 'dockhand.sock');
const proxy = await forkContestant(
  new URL('./serve.ts', import.meta.url).pathname,
  [proxySock, `unix://${ENGINE_SOCK}`],
  'the proxy',
);
started.push(proxy.child);
targets.push({
  name: 'dockhand',
  socket: proxySock,
  stop: proxy.stop,
  cpu: async () => (await proxy.cpu()) / 1000,
});

if (has('socat') && !without.includes('socat')) {
  const sock = join(dir, 'socat.sock');
  const p = spawn(
    'socat',
    [`UNIX-LISTEN:${sock},fork,reuseaddr,backlog=512`, `UNIX-CONNECT:${ENGINE_SOCK}`],
    { stdio: 'ignore' },
  );
  started.push(p);
  await waitSocket(sock);
  targets.push({ name: 'socat', socket: sock, stop: () => p.kill() });
}
if (has('haproxy') && !without.includes('haproxy')) {
  const sock = join(dir, 'haproxy.sock');
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    `global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n` +
      `frontend f\n  bind unix@${sock}\n  default_backend b\nbackend b\n  server engine unix@${ENGINE_SOCK}\n`,
  );
  const p = spawn('haproxy', ['-f', cfg], { stdio: 'ignore' });
  started.push(p);
  await waitSocket(sock);
  targets.push({ name: 'haproxy', socket: sock, stop: () => p.kill() });
}

if (!without.includes('node')) {
  // the least any Node.js proxy does: a relay that copies bytes and parses nothing (scripts/node-relay.ts)
  const sock = join(dir, 'node.sock');
  const relay = await forkContestant(
    new URL('../../../scripts/node-relay.ts', import.meta.url).pathname,
    [sock, ENGINE_SOCK],
    'the node relay',
  );
  started.push(relay.child);
  targets.push({ name: 'node', socket: sock, stop: relay.stop });
}
if (!without.includes('splice')) {
  const sock = join(dir, 'splice.sock');
  const relay = await startSpliceRelay(`unix:${sock}`, `unix:${ENGINE_SOCK}`);
  if (relay) targets.push({ name: 'splice', socket: sock, stop: () => relay.stop() });
}

// --- measurements ---------------------------------------------------------------------------------------
interface Sample {
  rps: number;
  p50: number;
  p99: number;
}
async function requests(socket: string, path: string, n: number, conc: number): Promise<Sample> {
  const pool = new Pool('http://docker', { socketPath: socket, connections: conc });
  const lat: number[] = [];
  let i = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (i++ < n) {
        const s = performance.now();
        const r = await pool.request({ path, method: 'GET' });
        await r.body.arrayBuffer();
        lat.push(performance.now() - s);
      }
    }),
  );
  const dt = performance.now() - t0;
  await pool.close();
  lat.sort((a, b) => a - b);
  return { rps: (n / dt) * 1000, p50: lat[lat.length >> 1]!, p99: lat[Math.floor(lat.length * 0.99)]! };
}

async function archive(socket: string, id: string): Promise<Sample> {
  // a contestant that stops sending for 30 s is counted as failed (undici's default would wait 300 s)
  const pool = new Pool('http://docker', { socketPath: socket, bodyTimeout: 30_000 });
  const t0 = performance.now();
  const r = await pool.request({ path: `/containers/${id}/archive?path=/big`, method: 'GET' });
  let bytes = 0;
  for await (const c of r.body) bytes += (c as Buffer).length;
  const dt = (performance.now() - t0) / 1000;
  await pool.close();
  if (bytes < 512 * 1024 * 1024) throw new Error(`short archive: ${bytes}`);
  return { rps: bytes / 1024 / 1024 / dt, p50: dt * 1000, p99: dt * 1000 };
}

async function execEcho(socket: string, container: string, n: number): Promise<Sample> {
  const pool = new Pool('http://docker', { socketPath: socket });
  const created = await pool.request({
    method: 'POST',
    path: `/containers/${container}/exec`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ Cmd: ['cat'], AttachStdin: true, AttachStdout: true }),
  });
  const { Id } = (await created.body.json()) as { Id: string };
  await pool.close();
  const s = connect(socket);
  s.on('error', () => {});
  const body = '{"Detach":false,"Tty":false}';
  s.write(
    `POST /exec/${Id}/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  s.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    waiter?.();
  });
  const until = (pred: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no echo within 10 s')), 10_000);
      const check = () => {
        if (pred()) {
          clearTimeout(timer);
          waiter = undefined;
          resolve();
        }
      };
      waiter = check;
      check();
    });
  await until(() => buf.indexOf('\r\n\r\n') !== -1);
  buf = buf.subarray(buf.indexOf('\r\n\r\n') + 4);
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    s.write('x');
    await until(() => buf.length >= 9); // 8-byte stream header + the byte
    buf = buf.subarray(9);
    lat.push(performance.now() - t);
  }
  s.destroy();
  lat.sort((a, b) => a - b);
  const total = lat.reduce((a, b) => a + b, 0);
  return { rps: (n / total) * 1000, p50: lat[lat.length >> 1]!, p99: lat[Math.floor(lat.length * 0.99)]! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function compare(name: string, unit: string, run: (t: Target) => Promise<Sample>) {
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  // a round that is not measured: the proxy's code compiled for this case (a Node.js process takes a few thousand
  // requests to reach its steady state), so every measured round compares steady states
  for (const t of targets) await run(t).catch(() => {});
  const cpu0 = await targets[1]!.cpu!();
  for (let r = 0; r < ROUNDS; r++) {
    // rotate the order every round so no contestant always runs first
    const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
    for (const t of order) {
      try {
        samples.get(t.name)!.push(await run(t));
      } catch (err) {
        console.log(`${t.name}: ${(err as Error).message}`);
        samples.get(t.name)!.push({ rps: Number.NaN, p50: Number.NaN, p99: Number.NaN });
      }
    }
  }
  const cpuMs = (await targets[1]!.cpu!()) - cpu0;
  const direct = median(samples.get('direct')!.map((s) => s.rps));
  const rows = targets.map((t) => {
    const s = samples.get(t.name)!;
    return {
      target: t.name,
      [unit]: Math.round(median(s.map((x) => x.rps)) * 10) / 10,
      'p50 ms': Math.round(median(s.map((x) => x.p50)) * 1000) / 1000,
      'p99 ms': Math.round(median(s.map((x) => x.p99)) * 1000) / 1000,
      'ratio vs direct': Math.round((median(s.map((x) => x.rps)) / direct) * 100) / 100,
    };
  });
  console.log(`\n## ${name}`);
  console.table(rows);
  return cpuMs;
}

const containers: string[] = [];
try {
  for (let i = 0; i < 40; i++)
    containers.push(sh('docker', ['create', '--label', LABEL, 'busybox', 'sleep', '600']));
  const big = sh('docker', [
    'run',
    '-d',
    '--label',
    LABEL,
    'busybox',
    'sh',
    '-c',
    'head -c 536870912 /dev/urandom > /big && sleep 3600',
  ]);
  containers.push(big);
  const echo = sh('docker', ['run', '-d', '--label', LABEL, 'busybox', 'sleep', '3600']);
  containers.push(echo);
  while (sh('docker', ['exec', big, 'sh', '-c', 'stat -c %s /big 2>/dev/null || echo 0']) !== '536870912')
    await sleep(200);
  await sleep(500);

  const N = quick ? 2000 : 5000;
  if (want('ping')) {
    const pingCpu = await compare(
      `GET /_ping, concurrency 1 (${N} requests x ${ROUNDS} rounds)`,
      'req/s',
      (t) => requests(t.socket, '/_ping', N, 1),
    );
    console.log(`dockhand CPU per request: ${((pingCpu * 1000) / (N * ROUNDS)).toFixed(1)} µs`);
    const ping16Cpu = await compare(`GET /_ping, concurrency 16`, 'req/s', (t) =>
      requests(t.socket, '/_ping', N, 16),
    );
    console.log(`dockhand CPU per request: ${((ping16Cpu * 1000) / (N * ROUNDS)).toFixed(1)} µs`);
  }
  const L = quick ? 300 : 1000;
  if (want('list')) {
    const listCpu = await compare(
      `GET /containers/json?all=1 (>= 40 containers), concurrency 1`,
      'req/s',
      (t) => requests(t.socket, '/containers/json?all=1', L, 1),
    );
    console.log(`dockhand CPU per request: ${((listCpu * 1000) / (L * ROUNDS)).toFixed(1)} µs`);
    await compare(`GET /containers/json?all=1, concurrency 16`, 'req/s', (t) =>
      requests(t.socket, '/containers/json?all=1', L, 16),
    );
  }
  if (want('archive'))
    await compare('GET /containers/{id}/archive, 512 MiB', 'MiB/s', (t) => archive(t.socket, big));
  if (want('echo'))
    await compare('1-byte echo over an attached exec (round trip)', 'echo/s', (t) =>
      execEcho(t.socket, echo, quick ? 300 : 1000),
    );
} finally {
  execFileSync('docker', ['rm', '-f', ...containers], { stdio: 'ignore' });
  for (const t of targets) t.stop();
  rmSync(dir, { recursive: true, force: true });
}
