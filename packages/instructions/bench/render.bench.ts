// Benchmark of @dockhand/instructions. Run after building: `node packages/instructions/bench/render.bench.ts`.
// Measures (1) the cold render of a generated 100-page docs folder, every page requested once over HTTP from a
// fresh server, and (2) requests per second and latency percentiles for one cached page at concurrency 16,
// against a baseline measured in the same run: a bare node:http server sending the same bytes from memory.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';

const PAGES = 100;
const CONCURRENCY = 16;
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const TARGET_COLD_MS = 2000;
const TARGET_P50_MS = 2;

const page = (n: number): string => `---
title: Step ${n}
---
# Step ${n}: build and run

Some prose with **bold**, \`code\`, a [link to the next step](${String(n + 1).padStart(3, '0')}-step.md) and {{ IDE_URL }}.

> [!NOTE]
> Containers you start here are shared with the rest of your group.

## Build the image

\`\`\`dockerfile
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json .
RUN npm install
CMD ["node", "server.js"]
\`\`\`

\`\`\`sh
docker build -t step-${n} .
docker run --rm -p 8080:8080 step-${n}
\`\`\`

## Check it

| Command | What it shows |
|:--------|:--------------|
| \`docker ps\` | running containers |
| \`docker logs\` | output |

- [x] Image built
- [ ] Container answers

\`\`\`ts
import { createServer } from 'node:http';
const server = createServer((req, res) => res.end('step ${n}'));
server.listen(8080, () => console.log('listening'));
\`\`\`

### Details

${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(12)}

\`\`\`yaml
services:
  web:
    image: step-${n}
    ports: ["8080:8080"]
\`\`\`
`;

const load = async (
  pool: Pool,
  path: string,
  durationMs: number,
): Promise<{ rps: number; latencies: number[] }> => {
  const latencies: number[] = [];
  const end = performance.now() + durationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const start = performance.now();
      const { statusCode, body } = await pool.request({ method: 'GET', path });
      await body.arrayBuffer();
      if (statusCode !== 200) throw new Error(`GET ${path} answered ${statusCode}`);
      latencies.push(performance.now() - start);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return { rps: (latencies.length / elapsed) * 1000, latencies };
};

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

const root = await mkdtemp(join(tmpdir(), 'dockhand-bench-'));
try {
  await mkdir(join(root, 'steps'));
  await Promise.all(
    Array.from({ length: PAGES }, (_, i) =>
      writeFile(join(root, 'steps', `${String(i + 1).padStart(3, '0')}-step.md`), page(i + 1)),
    ),
  );

  const importStart = performance.now();
  const { createInstructionsServer } = await import('../dist/index.js');
  const importMs = performance.now() - importStart;

  // Cold: a fresh server, every page rendered for the first time.
  const coldStart = performance.now();
  const server = createInstructionsServer({
    root,
    watch: false,
    variables: { IDE_URL: 'http://localhost:8443' },
  });
  const url = await server.listen();
  const pool = new Pool(url, { connections: CONCURRENCY });
  for (let i = 1; i <= PAGES; i++) {
    const { statusCode, body } = await pool.request({
      method: 'GET',
      path: `/steps/${String(i).padStart(3, '0')}-step`,
    });
    await body.arrayBuffer();
    if (statusCode !== 200) throw new Error(`page ${i} answered ${statusCode}`);
  }
  const coldMs = performance.now() - coldStart;

  // Cached page under load.
  const path = '/steps/050-step';
  const bytes = Buffer.from(await (await pool.request({ method: 'GET', path })).body.arrayBuffer());
  await load(pool, path, 500);
  const guide = await load(pool, path, DURATION_MS);
  await pool.close();
  await server.close();

  // Baseline: the same bytes from a bare node:http server, same client, same concurrency.
  const bare = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': bytes.length });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const barePool = new Pool(`http://127.0.0.1:${(bare.address() as AddressInfo).port}`, {
    connections: CONCURRENCY,
  });
  await load(barePool, path, 500);
  const baseline = await load(barePool, path, DURATION_MS);
  await barePool.close();
  await new Promise<void>((resolve) => bare.close(() => resolve()));

  // Live reload: edit a page, time until the open page's event stream says so and the page serves the edit.
  const watched = createInstructionsServer({ root, watch: true });
  const watchedUrl = await watched.listen();
  const watchedPool = new Pool(watchedUrl, { connections: 2 });
  const events = await watchedPool.request({ method: 'GET', path: '/_dockhand/events' });
  let waiting: (() => void) | undefined;
  events.body.on('data', (chunk: Buffer) => {
    if (chunk.toString().includes('data:')) waiting?.();
  });
  await new Promise((r) => setTimeout(r, 200));
  const reloads: number[] = [];
  for (let i = 0; i < 10; i++) {
    const marker = `edited-${i}-${Date.now()}`;
    const seen = new Promise<void>((resolve) => {
      waiting = resolve;
    });
    const t0 = performance.now();
    await writeFile(join(root, 'steps', '001-step.md'), `${page(1)}\n\n${marker}\n`);
    await seen;
    const res = await watchedPool.request({ method: 'GET', path: '/steps/001-step' });
    const html = await res.body.text();
    if (!html.includes(marker)) throw new Error('the edited page was not served after the reload event');
    reloads.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 100));
  }
  events.body.destroy();
  await watchedPool.destroy();
  await watched.close();
  reloads.sort((a, b) => a - b);

  const p50 = percentile(guide.latencies, 50);
  const rows: [string, string][] = [
    [
      'live reload: edit -> event -> edited page served (10 edits)',
      `p50 ${reloads[5]!.toFixed(0)} ms, max ${reloads[9]!.toFixed(0)} ms (target < 1000 ms)`,
    ],
    ['module import', `${importMs.toFixed(0)} ms`],
    [
      `cold render, ${PAGES} pages (server start + every page once)`,
      `${coldMs.toFixed(0)} ms (target < ${TARGET_COLD_MS} ms)`,
    ],
    ['cold render per page', `${(coldMs / PAGES).toFixed(2)} ms`],
    [
      `cached page (${(bytes.length / 1024).toFixed(1)} KiB), concurrency ${CONCURRENCY}`,
      `${guide.rps.toFixed(0)} req/s`,
    ],
    [
      'cached page p50 / p90 / p99',
      `${p50.toFixed(3)} / ${percentile(guide.latencies, 90).toFixed(3)} / ${percentile(guide.latencies, 99).toFixed(3)} ms (p50 target < ${TARGET_P50_MS} ms)`,
    ],
    [
      'baseline (bare node:http, same bytes)',
      `${baseline.rps.toFixed(0)} req/s, p50 ${percentile(baseline.latencies, 50).toFixed(3)} ms`,
    ],
    ['guide / baseline throughput', `${(guide.rps / baseline.rps).toFixed(2)}x`],
  ];
  console.log('@dockhand/instructions render benchmark');
  for (const [name, value] of rows) console.log(`  ${name.padEnd(62)} ${value}`);
  const ok = coldMs < TARGET_COLD_MS && p50 < TARGET_P50_MS && reloads[9]! < 1000;
  console.log(ok ? '  targets met' : '  TARGETS MISSED');
  process.exitCode = ok ? 0 : 1;
} finally {
  await rm(root, { recursive: true, force: true });
}
