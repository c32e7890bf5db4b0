// The proxy's own answers (refusals, and answers a middleware makes with ctx.respond) read as the engine's: the
// engine's identity headers in the order its Go server writes a head, and JSON ended by a newline. A client cannot
// tell by the bytes whether the proxy or the engine answered: each case compares an answer of the proxy's own with
// the engine's answer to the same request through the same proxy, and with the engine's own bytes.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Context, createProxy, DockhandError, type Middleware, on } from '../src/index.ts';
import { ENGINE, startProxy } from './harness.ts';
import { rawExchange } from './raw-client.ts';

const engineSocket = ENGINE.replace(/^unix:\/\//, '');

/** A whole answer read: its head, and a body as long as its Content-Length (or up to the last chunk). */
function whole(received: string): boolean {
  const end = received.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const length = /\r\ncontent-length: (\d+)\r\n/i.exec(received.slice(0, end + 2));
  if (length) return Buffer.byteLength(received.slice(end + 4), 'latin1') >= Number(length[1]);
  return received.endsWith('0\r\n\r\n');
}

const exchange = (socket: string, request: string) => rawExchange(socket, request, { until: whole });

/** The answer with its Date's value taken out: the one field that differs between two answers a second apart. */
const undated = (answer: string) => answer.replace(/\r\nDate: [^\r]*\r\n/, '\r\nDate: -\r\n');
/** The fields the engine's Go server writes on a JSON answer before its framing, in its order. */
const ENGINE_HEAD = ['Api-Version', 'Content-Type', 'Docker-Experimental', 'Ostype', 'Server', 'Date'];
const names = (answer: string) =>
  answer
    .slice(0, answer.indexOf('\r\n\r\n'))
    .split('\r\n')
    .slice(1)
    .map((line) => line.slice(0, line.indexOf(':')));

/**
 * The two ways a request reaches the pipeline: a middleware the lane serves (on a route), and node:http. Each
 * answers itself when `own` says so, and passes the request to the engine otherwise.
 */
const ways: [
  string,
  (op: string, own: (ctx: Context) => boolean, answer: (ctx: Context) => void) => Middleware,
][] = [
  [
    'served by the byte lane',
    (op, own, answer) =>
      on(op as 'ContainerList', async (ctx, next) => {
        if (own(ctx)) answer(ctx);
        else await next();
      }),
  ],
  [
    'served by node:http',
    (op, own, answer) => async (ctx, next) => {
      if (ctx.operation === op && own(ctx)) answer(ctx);
      else await next();
    },
  ],
];

describe.each(ways)('the proxy’s own answers, %s', (_way, middleware) => {
  it('a refusal reads as the engine’s 404 for a missing object, byte for byte but for the date, from the first answer', async () => {
    const id = randomUUID();
    const refuse = middleware(
      'ContainerInspect',
      (ctx) => ctx.params.id!.startsWith('hidden-'),
      (ctx) => {
        throw new DockhandError('TEST_HIDDEN', 404, `No such container: ${ctx.params.id}`);
      },
    );
    await using tp = await startProxy([refuse]);
    const ask = (name: string) => `GET /containers/${name}/json HTTP/1.1\r\nHost: docker\r\n\r\n`;
    // the first answer of a fresh proxy is its own
    const hidden = await exchange(tp.socket, ask(`hidden-${id}`));
    const missing = await exchange(tp.socket, ask(`absent-${id}`));
    expect(missing).toMatch(/^HTTP\/1\.1 404 /);
    expect(missing).toContain('\r\nServer: ');
    expect(undated(hidden)).toBe(undated(missing).replace(`absent-${id}`, `hidden-${id}`));
    expect(undated(missing)).toBe(undated(await exchange(engineSocket, ask(`absent-${id}`))));
  });

  it('an answer of the pipeline’s own reads as the engine’s, byte for byte but for the date', async () => {
    const respond = middleware(
      'ContainerList',
      (ctx) => ctx.request.headers.get('X-Own') !== undefined,
      (ctx) => ctx.respond(200, []),
    );
    await using tp = await startProxy([respond]);
    // a list no container matches: the engine's answer is `[]` too
    const filters = encodeURIComponent(JSON.stringify({ label: [`dockhand.none=${randomUUID()}`] }));
    const ask = (extra: string) =>
      `GET /containers/json?filters=${filters} HTTP/1.1\r\nHost: docker\r\n${extra}\r\n`;
    const own = await exchange(tp.socket, ask('X-Own: 1\r\n'));
    const engine = await exchange(tp.socket, ask(''));
    expect(engine).toMatch(/\r\n\r\n\[\]\n$/);
    expect(undated(own)).toBe(undated(engine));
    expect(undated(engine)).toBe(undated(await exchange(engineSocket, ask(''))));
  });

  it('a stream of the pipeline’s own has the head of the engine’s streams', async () => {
    const stream = middleware(
      'SystemEvents',
      (ctx) => ctx.request.headers.get('X-Own') !== undefined,
      (ctx) =>
        ctx.respondStream(200, async function* () {
          yield { status: 'x' };
        }),
    );
    await using tp = await startProxy([stream]);
    const now = Math.floor(Date.now() / 1000);
    // events until a second from now (a filter nothing matches): the engine flushes its head at once and ends the
    // stream a second later (a replay of the past alone may be sized instead, as the engine's handler returns first)
    const ask = (extra: string) =>
      `GET /events?since=${now}&until=${now + 2}&filters=${encodeURIComponent(JSON.stringify({ label: [`dockhand.none=${randomUUID()}`] }))} HTTP/1.1\r\nHost: docker\r\n${extra}\r\n`;
    const own = await exchange(tp.socket, ask('X-Own: 1\r\n'));
    const engine = await exchange(tp.socket, ask(''));
    expect(names(own)).toEqual(names(engine));
    expect(names(engine)).toEqual([...ENGINE_HEAD, 'Transfer-Encoding']);
  });
});

describe('the proxy’s own answers to HTTP/1.0', () => {
  // found by review 29b: the connection was kept, and the answer no longer said so
  it('a request that asks to keep the connection is told it is kept, as by the engine', async () => {
    const refuse = on('ContainerInspect', async () => {
      throw new DockhandError('TEST_HIDDEN', 404, 'No such container: x');
    });
    await using tp = await startProxy([refuse]);
    const request = 'GET /containers/x/json HTTP/1.0\r\nHost: docker\r\nConnection: keep-alive\r\n\r\n';
    expect(await exchange(engineSocket, request)).toMatch(/\r\nConnection: keep-alive\r\n/);
    expect(await exchange(tp.socket, request)).toMatch(/\r\nConnection: keep-alive\r\n/);
  });
});

describe('the proxy’s own refusals outside the pipeline', () => {
  it('an upgrade a route does not take is refused with the engine’s head fields', async () => {
    await using tp = await startProxy([]);
    const answer = await exchange(
      tp.socket,
      'GET /containers/x/json HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(names(answer)).toEqual([...ENGINE_HEAD, 'Content-Length', 'Connection']);
    expect(answer).toMatch(/"}\n$/);
  });
});

describe('the engine’s identity, learned again', () => {
  it('reaches the own answers of a proxy whose other answers all pass as bytes, after the engine changed', async () => {
    // the real engine behind a relay that, once `upgraded`, rewrites its `Server` (same length): as an engine
    // upgraded under a running proxy, whose answers on the byte lane nobody parses
    const dir = await mkdtemp(join(tmpdir(), 'dockhand-identity-'));
    let upgraded = false;
    const open = new Set<Socket>();
    const relay = createServer((toProxy) => {
      open.add(toProxy);
      const toEngine = connect(engineSocket);
      toProxy.pipe(toEngine);
      toEngine.on('data', (chunk: Buffer) => {
        toProxy.write(
          upgraded
            ? Buffer.from(chunk.toString('latin1').replace('Server: Docker/', 'Server: Dockr2/'), 'latin1')
            : chunk,
        );
      });
      toEngine.on('end', () => toProxy.end());
      for (const s of [toProxy, toEngine]) s.on('error', () => {});
      toProxy.on('close', () => {
        open.delete(toProxy);
        toEngine.destroy();
      });
    });
    await new Promise<void>((resolve) => relay.listen(join(dir, 'engine.sock'), resolve));
    const proxy = createProxy({ upstream: `unix://${join(dir, 'engine.sock')}`, middleware: [] });
    await proxy.listen(join(dir, 'proxy.sock'));
    // an upgrade no route takes: refused by the proxy itself
    const refused = () =>
      exchange(
        join(dir, 'proxy.sock'),
        'GET /containers/x/json HTTP/1.1\r\nHost: docker\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n',
      );
    try {
      expect(await refused()).toContain('\r\nServer: Docker/');
      upgraded = true;
      // the engine's answers pass the lane as bytes, with the new Server, and teach the proxy nothing
      const ping = await exchange(join(dir, 'proxy.sock'), 'GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n');
      expect(ping).toContain('\r\nServer: Dockr2/');
      // an own answer a few seconds after it last learned asks again; the next ones carry what it learned
      await new Promise((resolve) => setTimeout(resolve, 5500));
      await refused();
      const t0 = performance.now();
      let answer = await refused();
      while (!answer.includes('\r\nServer: Dockr2/') && performance.now() - t0 < 3000)
        answer = await refused();
      expect(answer).toContain('\r\nServer: Dockr2/');
    } finally {
      await proxy.close();
      for (const s of open) s.destroy();
      relay.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 20_000);
});
