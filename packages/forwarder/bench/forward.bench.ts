// Compares three paths to one container, side by side in one run: direct to the container's address,
// through socat (TCP-LISTEN,fork,reuseaddr), and through @dockhand/forwarder (in its own process, like socat).
// A fourth, `splice`, is a reference for what any user-space forwarder can reach on this machine: a C relay
// that moves bytes with splice(2) and copies none (scripts/splice-relay.c; left out where there is no `cc`).
// Run after building: node packages/forwarder/bench/forward.bench.ts   (needs Debian's socat)
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { startSpliceRelay } from '../../../scripts/splice-relay.ts';

const GIB = 1024 ** 3;
const ROUNDS = 3;
const label = `dockhand.test=forwarder-bench-${randomBytes(4).toString('hex')}`;
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const children: ChildProcess[] = [];

const SERVER = `
const net = require('net'), http = require('http');
const chunk = Buffer.alloc(1 << 20, 120);
net.createServer((s) => {
  s.on('error', () => {});
  s.once('data', (d) => {
    let left = Number(String(d).trim());
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length); left -= n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return s.once('drain', pump);
      }
      s.end();
    };
    pump();
  });
}).listen(9000);
http.createServer((q, r) => r.end('ok')).listen(80);
`;

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitConnect(host: string, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = tcpConnect({ host, port });
      s.on('connect', () => s.end('1\n'));
      s.on('data', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${host}:${port} never answered`);
}

/** Seconds to receive `bytes` from the sender port. */
function throughput(host: string, port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    let got = 0;
    const s = tcpConnect({ host, port }, () => s.write(`${bytes}\n`));
    s.on('data', (d) => {
      got += d.length;
    });
    s.on('error', reject);
    s.on('end', () => {
      if (got !== bytes) reject(new Error(`got ${got} of ${bytes} bytes`));
      else resolve(Number(process.hrtime.bigint() - start) / 1e9);
    });
  });
}

/** Connect, ask for one byte, wait for it: milliseconds, for `n` sequential connections. */
async function latencies(host: string, port: number, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      await new Promise<number>((resolve, reject) => {
        const start = process.hrtime.bigint();
        const s = tcpConnect({ host, port, noDelay: true }, () => s.write('1\n'));
        s.once('data', () => {
          resolve(Number(process.hrtime.bigint() - start) / 1e6);
          s.destroy();
        });
        s.on('error', reject);
      }),
    );
  }
  return out.sort((a, b) => a - b);
}

async function rps(host: string, port: number, seconds: number): Promise<number> {
  const pool = new Pool(`http://${host}:${port}`, { connections: 32 });
  let count = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (Date.now() < end) {
        const res = await pool.request({ path: '/', method: 'GET' });
        await res.body.text();
        count++;
      }
    }),
  );
  await pool.close();
  return count / seconds;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

async function main(): Promise<void> {
  const streamPort = await freePort();
  const httpPort = await freePort();
  const id = docker(
    'run',
    '-d',
    '--label',
    label,
    '-p',
    `127.0.0.2:${streamPort}:9000`,
    '-p',
    `127.0.0.2:${httpPort}:80`,
    'node:24-bookworm-slim',
    'node',
    '-e',
    SERVER,
  );
  const ip = docker('inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', id).split(
    ' ',
  )[0]!;
  await waitConnect(ip, 9000);

  const socatStream = await freePort();
  const socatHttp = await freePort();
  for (const [listen, target] of [
    [socatStream, 9000],
    [socatHttp, 80],
  ] as const) {
    children.push(
      spawn('socat', [`TCP-LISTEN:${listen},bind=127.0.0.1,fork,reuseaddr`, `TCP:${ip}:${target}`], {
        stdio: 'inherit',
      }),
    );
  }
  const spliceStream = await freePort();
  const spliceHttp = await freePort();
  const splice = [
    await startSpliceRelay(`tcp:127.0.0.1:${spliceStream}`, `tcp:${ip}:9000`),
    await startSpliceRelay(`tcp:127.0.0.1:${spliceHttp}`, `tcp:${ip}:80`),
  ];
  for (const relay of splice) if (relay) children.push(relay.process);
  const withSplice = splice[0] !== undefined && splice[1] !== undefined;
  const fwdScript = `import(${JSON.stringify(dist)}).then(({ createForwarder }) =>
    createForwarder({ dockerHost: 'unix:///var/run/docker.sock', labels: [${JSON.stringify(label)}] }))`;
  children.push(spawn(process.execPath, ['-e', fwdScript], { stdio: 'inherit' }));
  // every path's both ports answer before the first round (the forwarder listens on the published host ports)
  for (const port of [socatStream, socatHttp, streamPort, httpPort]) await waitConnect('127.0.0.1', port);

  const paths = [
    { name: 'direct', host: ip, stream: 9000, http: 80 },
    { name: 'socat', host: '127.0.0.1', stream: socatStream, http: socatHttp },
    { name: 'forwarder', host: '127.0.0.1', stream: streamPort, http: httpPort },
    ...(withSplice ? [{ name: 'splice', host: '127.0.0.1', stream: spliceStream, http: spliceHttp }] : []),
  ];
  type Sample = { mibps: number; p50: number; p99: number; rps: number };
  const samples = new Map<string, Sample[]>(paths.map((p) => [p.name, []]));
  for (const p of paths) await throughput(p.host, p.stream, 64 * 1024 * 1024); // warm-up
  // interleaved rounds, the order rotated every round, so no path always runs first or on a quieter machine
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of paths.map((_, i) => paths[(i + round) % paths.length]!)) {
      const secs = await throughput(p.host, p.stream, GIB);
      const lat = await latencies(p.host, p.stream, 2000);
      const r = await rps(p.host, p.http, 5);
      samples.get(p.name)!.push({ mibps: 1024 / secs, p50: pct(lat, 50), p99: pct(lat, 99), rps: r });
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const results: Record<string, Sample> = {};
  console.log(`medians of ${ROUNDS} interleaved rounds:`);
  for (const p of paths) {
    const xs = samples.get(p.name)!;
    const m: Sample = {
      mibps: median(xs.map((x) => x.mibps)),
      p50: median(xs.map((x) => x.p50)),
      p99: median(xs.map((x) => x.p99)),
      rps: median(xs.map((x) => x.rps)),
    };
    results[p.name] = m;
    console.log(
      `${p.name.padEnd(10)} 1 GiB: ${m.mibps.toFixed(0).padStart(6)} MiB/s   connect+first byte p50 ${m.p50.toFixed(3)} ms p99 ${m.p99.toFixed(3)} ms   HTTP c=32: ${m.rps.toFixed(0)} req/s`,
    );
  }
  const d = results.direct!;
  const s = results.socat!;
  const f = results.forwarder!;
  console.log('\nratios (forwarder vs direct / vs socat):');
  console.log(
    `  throughput   ${(f.mibps / d.mibps).toFixed(2)}x direct   ${(f.mibps / s.mibps).toFixed(2)}x socat   (target >= 0.9x direct, >= 1x socat)`,
  );
  console.log(
    `  latency p50  ${(f.p50 / d.p50).toFixed(2)}x direct   ${(f.p50 / s.p50).toFixed(2)}x socat   (target <= 1x socat)`,
  );
  console.log(`  latency p99  ${(f.p99 / d.p99).toFixed(2)}x direct   ${(f.p99 / s.p99).toFixed(2)}x socat`);
  console.log(`  HTTP req/s   ${(f.rps / d.rps).toFixed(2)}x direct   ${(f.rps / s.rps).toFixed(2)}x socat`);
  const z = results.splice;
  if (z) {
    console.log('\nthe zero-copy reference, the most a user-space forwarder reaches here:');
    console.log(
      `  splice: throughput ${(z.mibps / d.mibps).toFixed(2)}x direct   latency p50 ${(z.p50 / s.p50).toFixed(2)}x socat's, p99 ${(z.p99 / s.p99).toFixed(2)}x socat's   HTTP ${(z.rps / d.rps).toFixed(2)}x direct`,
    );
  }
}

try {
  await main();
} finally {
  for (const c of children) c.kill();
  try {
    const ids = docker('ps', '-aq', '--filter', `label=${label}`);
    if (ids) docker('rm', '-f', ...ids.split('\n'));
  } catch {}
}
