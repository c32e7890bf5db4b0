// A stream of the pipeline's own (Context.respondStream) that is not what the client gets: replaced, failed, read
// into nothing, or answered without a body; its producer stops (review 28b: each kept producing for nobody).
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type Context, type Middleware, on } from '../src/index.ts';
import { startProxy } from './harness.ts';
import { probe } from './producer-probe.ts';

/** One request on a raw connection; what came back within ms, and the connection. */
async function ask(socket: string, head: string, ms = 500) {
  const s = connect(socket);
  await once(s, 'connect');
  let text = '';
  s.on('data', (c: Buffer) => {
    text += c.toString('latin1');
  });
  s.on('error', () => {});
  s.write(head);
  await sleep(ms);
  return { s, text: () => text };
}

const ways: [string, (f: (ctx: Context, next: () => Promise<void>) => Promise<void>) => Middleware][] = [
  ['lane', (f) => on('SystemEvents', f)],
  ['node:http', (f) => async (ctx, next) => (ctx.path === '/events' ? f(ctx, next) : next())],
];

describe.each(ways)('a stream of the pipeline’s own that the client does not get, %s', (_way, mw) => {
  it.each<[string, (ctx: Context) => void]>([
    [
      'throws after next(): the producer stops once the client is answered and gone',
      () => {
        throw new Error('late');
      },
    ],
    ['answers in its place: the producer stops', (ctx) => ctx.respond(200, { replaced: true })],
  ])('an outer middleware that %s', async (_what, after) => {
    const p = probe({ waitMs: 20 });
    await using tp = await startProxy([
      mw(async (ctx, next) => {
        await next();
        after(ctx);
      }),
      mw(async (ctx) => ctx.respondStream(200, p.produce)),
    ]);
    const r = await ask(tp.socket, 'GET /events HTTP/1.1\r\nHost: d\r\n\r\n');
    r.s.destroy();
    await sleep(800);
    expect(p.aborted || p.finished).toBe(true);
  });

  it('an outer middleware that reads json() of an endless stream', async () => {
    const p = probe({ message: (i) => ({ n: i + 1, pad: 'x'.repeat(4096) }), waitMs: 0 });
    await using tp = await startProxy(
      [
        mw(async (ctx, next) => {
          await next();
          await ctx.response!.json();
        }),
        mw(async (ctx) => ctx.respondStream(200, p.produce)),
      ],
      { bodyLimit: 1024 * 1024 },
    );
    const r = await ask(tp.socket, 'GET /events HTTP/1.1\r\nHost: d\r\n\r\n', 1500);
    r.s.destroy();
    await sleep(800);
    expect(p.aborted || p.finished).toBe(true);
  });

  it('204 from respondStream: answered without a body, the producer stops, the connection goes on', async () => {
    const p = probe({ waitMs: 20 });
    await using tp = await startProxy([mw(async (ctx) => ctx.respondStream(204, p.produce))]);
    const r = await ask(
      tp.socket,
      'GET /events HTTP/1.1\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n',
      800,
    );
    await sleep(500);
    r.s.destroy();
    await sleep(300);
    expect(r.text()).toContain('OK');
    expect(p.aborted || p.finished).toBe(true);
  });

  it('HEAD answered with respondStream', async () => {
    const p = probe({ waitMs: 20 });
    await using tp = await startProxy([
      async (ctx, next) => (ctx.path === '/events' ? ctx.respondStream(200, p.produce) : next()),
    ]);
    const r = await ask(
      tp.socket,
      'HEAD /events HTTP/1.1\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n',
      800,
    );
    r.s.destroy();
    await sleep(800);
    expect(p.aborted || p.finished).toBe(true);
  });
});

// found by review 28d: an upgrade route's way out did not stop them, nor was an engine answer a middleware replaced
describe('on an upgrade route, and an engine answer replaced', { timeout: 60_000 }, () => {
  it.each(['respond', 'throw'] as const)(
    'a stream of the pipeline’s own on an upgrade route, then %s: the producer stops',
    async (outer) => {
      const p = probe({ waitMs: 50 });
      await using tp = await startProxy([
        on('ContainerAttach', async (ctx, next) => {
          await next();
          if (outer === 'throw') throw new Error('late');
          ctx.respond(409, { message: 'replaced' });
        }),
        on('ContainerAttach', async (ctx) => ctx.respondStream(200, p.produce)),
      ]);
      const r = await ask(
        tp.socket,
        `POST /containers/${randomUUID()}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n`,
        800,
      );
      r.s.destroy();
      await sleep(800);
      expect(p.aborted || p.finished).toBe(true);
    },
  );

  it.each([
    ['the byte lane', 'respond'],
    ['the byte lane', 'throw'],
    ['node:http', 'respond'],
    ['node:http', 'throw'],
  ] as const)('an engine logs -f stream an outer middleware replaced ends (%s, %s)', async (way, how) => {
    const label = `core-${randomUUID().slice(0, 8)}`;
    const id = execFileSync('docker', [
      'run',
      '-d',
      '--label',
      `dockhand.test=${label}`,
      'busybox:latest',
      'sh',
      '-c',
      'while true; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done',
    ])
      .toString()
      .trim();
    try {
      let ended = false;
      await using tp = await startProxy([
        on('ContainerLogs', async (ctx, next) => {
          await next();
          ctx.response!.onEnd(() => {
            ended = true;
          });
          if (how === 'throw') throw new Error('late');
          ctx.respond(200, { replaced: true });
        }),
      ]);
      // (a chunked body, even empty, takes node:http)
      const body = way === 'node:http' ? 'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n' : '\r\n';
      const r = await ask(
        tp.socket,
        `GET /containers/${id}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: d\r\n${body}`,
        1500,
      );
      r.s.destroy();
      await sleep(1000);
      // before: on node:http the engine's request went on in undici; on the lane its end never came
      expect(ended).toBe(true);
    } finally {
      execFileSync('docker', ['rm', '-f', id]);
    }
  });
});
