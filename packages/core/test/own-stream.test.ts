// A stream of the pipeline's own (Context.respondStream): written as the client takes it, on both ways a request
// reaches the pipeline (the byte lane's own serving, for a middleware declared with on(); node:http otherwise).
import { once } from 'node:events';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { describe, expect, it } from 'vitest';
import { type Context, type MessageProducer, type Middleware, on } from '../src/index.ts';
import { startProxy } from './harness.ts';
import { probe } from './producer-probe.ts';

const PAD = 'x'.repeat(64 * 1024);

/** The two ways: a middleware the lane serves (on a route), and one node:http serves (no declared routes). */
const ways: [string, (answer: (ctx: Context) => void) => Middleware][] = [
  ['served by the byte lane', (answer) => on('SystemEvents', async (ctx) => answer(ctx))],
  [
    'served by node:http',
    (answer) => async (ctx, next) => {
      if (ctx.operation === 'SystemEvents') answer(ctx);
      else await next();
    },
  ],
];

describe.each(ways)('a stream of the pipeline’s own, %s', (_way, middleware) => {
  it('sends each message on a line, chunked, ends when the producer returns, and keeps the connection', async () => {
    const p = probe({ message: (i) => ({ n: i, ünï: 'côde' }), count: 3 });
    await using tp = await startProxy([middleware((ctx) => ctx.respondStream(200, p.produce))]);
    const pool = new Pool('http://docker', { socketPath: tp.socket, connections: 1 });
    try {
      const res = await pool.request({ method: 'GET', path: '/events' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['transfer-encoding']).toBe('chunked');
      expect(res.headers['content-type']).toBe('application/json');
      const text = await res.body.text();
      expect(text).toBe('{"n":0,"ünï":"côde"}\n{"n":1,"ünï":"côde"}\n{"n":2,"ünï":"côde"}\n');
      expect(p.finished).toBe(true);
      // the same connection answers the next request
      const ping = await pool.request({ method: 'GET', path: '/_ping' });
      expect(await ping.body.text()).toBe('OK');
    } finally {
      await pool.close();
    }
  });

  it('asks for the next message only as the client reads', async () => {
    const p = probe({ message: () => ({ pad: PAD }) });
    await using tp = await startProxy([middleware((ctx) => ctx.respondStream(200, p.produce))]);
    const s = connect(tp.socket);
    await once(s, 'connect');
    s.write('GET /events HTTP/1.1\r\nHost: d\r\n\r\n');
    s.pause();
    await sleep(500);
    const whileStill = p.yielded;
    // what waits in the proxy and in the socket's buffers: a few MiB at most, where the producer makes GiB a second
    expect(whileStill).toBeGreaterThan(0);
    expect(whileStill).toBeLessThan(200);
    await sleep(300);
    expect(p.yielded).toBe(whileStill);
    let bytes = 0;
    s.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    s.resume();
    await sleep(300);
    expect(p.yielded).toBeGreaterThan(whileStill);
    expect(bytes).toBeGreaterThan(whileStill * PAD.length * 0.5);
    s.destroy();
  });

  it('stops a waiting producer at once when the client goes away', async () => {
    // a message, then a wait of a minute: only the signal ends it sooner
    const p = probe({ message: () => ({ tick: true }), waitMs: 60_000 });
    await using tp = await startProxy([middleware((ctx) => ctx.respondStream(200, p.produce))]);
    const s = connect(tp.socket);
    await once(s, 'connect');
    s.write('GET /events HTTP/1.1\r\nHost: d\r\n\r\n');
    await once(s, 'data');
    s.destroy();
    for (let i = 0; i < 50 && !p.finished; i++) await sleep(20);
    expect(p.aborted).toBe(true);
    expect(p.finished).toBe(true);
    expect(p.yielded).toBe(1);
  });

  it('cuts the connection when the producer fails, after what it sent', async () => {
    const failing: MessageProducer = async function* () {
      yield { first: true };
      await sleep(50);
      throw new Error('the producer failed');
    };
    await using tp = await startProxy([middleware((ctx) => ctx.respondStream(200, failing))]);
    const s = connect(tp.socket);
    await once(s, 'connect');
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString();
    });
    s.write('GET /events HTTP/1.1\r\nHost: d\r\n\r\n');
    await once(s, 'close');
    expect(text).toContain('{"first":true}\n');
    // no last chunk: the client sees a stream that broke, not one that ended
    expect(text.endsWith('0\r\n\r\n')).toBe(false);
  });
});
