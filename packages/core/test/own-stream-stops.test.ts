// A stream of the pipeline's own (Context.respondStream) that is not what the client gets: replaced, failed, read
// into nothing, or answered without a body; its producer stops (review 28b: each kept producing for nobody).
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { type Context, type MessageProducer, type Middleware, on } from '../src/index.ts';
import { startProxy } from './harness.ts';

interface Probe {
  produce: MessageProducer;
  yielded: number;
  finished: boolean;
  aborted: boolean;
}
function probe(waitMs: number, pad = 0): Probe {
  const p: Probe = {
    yielded: 0,
    finished: false,
    aborted: false,
    async *produce(signal) {
      signal.addEventListener('abort', () => {
        p.aborted = true;
      });
      try {
        for (;;) {
          p.yielded++;
          yield { n: p.yielded, pad: 'x'.repeat(pad) };
          await sleep(waitMs, undefined, { signal });
        }
      } finally {
        p.finished = true;
      }
    },
  };
  return p;
}

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
  it('an outer middleware that throws after next(): the producer stops once the client is answered and gone', async () => {
    const p = probe(20);
    await using tp = await startProxy([
      mw(async (_ctx, next) => {
        await next();
        throw new Error('late');
      }),
      mw(async (ctx) => ctx.respondStream(200, p.produce)),
    ]);
    const r = await ask(tp.socket, 'GET /events HTTP/1.1\r\nHost: d\r\n\r\n');
    r.s.destroy();
    await sleep(300);
    await sleep(500);
    expect(p.aborted || p.finished).toBe(true);
  });

  it('an outer middleware that answers in its place: the producer stops', async () => {
    const p = probe(20);
    await using tp = await startProxy([
      mw(async (ctx, next) => {
        await next();
        ctx.respond(200, { replaced: true });
      }),
      mw(async (ctx) => ctx.respondStream(200, p.produce)),
    ]);
    const r = await ask(tp.socket, 'GET /events HTTP/1.1\r\nHost: d\r\n\r\n');
    r.s.destroy();
    await sleep(300);
    await sleep(500);
    expect(p.aborted || p.finished).toBe(true);
  });

  it('an outer middleware that reads json() of an endless stream', async () => {
    const p = probe(0, 4096);
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
    await sleep(300);
    await sleep(500);
    expect(p.aborted || p.finished).toBe(true);
  });

  it('204 from respondStream: answered without a body, the producer stops, the connection goes on', async () => {
    const p = probe(20);
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
    const p = probe(20);
    await using tp = await startProxy([
      async (ctx, next) => (ctx.path === '/events' ? ctx.respondStream(200, p.produce) : next()),
    ]);
    const r = await ask(
      tp.socket,
      'HEAD /events HTTP/1.1\r\nHost: d\r\n\r\nGET /_ping HTTP/1.1\r\nHost: d\r\n\r\n',
      800,
    );
    r.s.destroy();
    await sleep(300);
    await sleep(500);
    expect(p.aborted || p.finished).toBe(true);
  });
});
