// untouchedWhen: requests every middleware declares it leaves alone take the byte lane even though the pipeline
// acts on their route; the access log names which path carried each request. Real engine, real clients.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createProxy,
  type DockerProxy,
  DockhandError,
  type Middleware,
  on,
  untouchedWhen,
} from '../src/index.ts';
import { ENGINE } from './harness.ts';
import { rawExchange, statusOf } from './raw-client.ts';

/** Requests that reached the middleware, with what the proxy's lane test saw. */
const seen: string[] = [];
const tested: { contentType: string | undefined; bodyLength: number; query: string }[] = [];
const lines: Record<string, unknown>[] = [];

// acts on /version unless asked not to (`?plain=1`); marks what it touches. `?throw=1` makes its test throw.
const versionHeader: Middleware = untouchedWhen(
  (req) => {
    tested.push({ contentType: req.contentType, bodyLength: req.bodyLength, query: req.query.toString() });
    if (req.query.get('throw') === '1') throw new Error('a broken test');
    return req.query.get('plain') === '1';
  },
  on('SystemVersion', async (ctx, next) => {
    seen.push(ctx.path);
    await next();
    ctx.response!.headers.set('X-Dockhand-Test', 'pipeline');
  }),
);
// refuses one container name, on every route that names it
const refuseName: Middleware = untouchedWhen(
  (req) => req.params.id !== 'dockhand-untouched-refused',
  on('ContainerInspect', async (ctx, next) => {
    if (ctx.params.id === 'dockhand-untouched-refused')
      throw new DockhandError('TEST_REFUSED', 403, 'refused by the test');
    await next();
  }),
);
// acts on every request, declared untouched for GET and HEAD
const writes: Middleware = untouchedWhen(
  (req) => req.method === 'GET' || req.method === 'HEAD',
  async (ctx, next) => {
    seen.push(`${ctx.method} ${ctx.path}`);
    await next();
  },
);

let proxy: DockerProxy;
let dir: string;
let socket: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockhand-untouched-'));
  socket = join(dir, 'docker.sock');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  proxy = createProxy({
    upstream: ENGINE,
    middleware: [writes, versionHeader, refuseName],
    logger: pino({ level: 'info' }, sink),
    accessLog: true,
  });
  await proxy.listen(socket);
});

afterAll(async () => {
  await proxy.close();
  await rm(dir, { recursive: true, force: true });
});

/** One request on a connection of its own (a connection the pipeline took stays with it). */
async function get(path: string, method: 'GET' | 'POST' = 'GET') {
  const c = new Client('http://docker', { socketPath: socket });
  try {
    const r = await c.request({ method, path });
    return { status: r.statusCode, header: r.headers['x-dockhand-test'], body: await r.body.text() };
  } finally {
    await c.close();
  }
}

/** Runs `send`, then waits for the access-log line it causes (one request, so one new line). */
async function logged<T>(send: () => Promise<T>): Promise<{ reply: T; line: Record<string, unknown> }> {
  const before = lines.filter((l) => l.msg === 'request').length;
  const reply = await send();
  await expect.poll(() => lines.filter((l) => l.msg === 'request').length).toBe(before + 1);
  return { reply, line: lines.filter((l) => l.msg === 'request').at(-1)! };
}

describe('requests the pipeline declares it leaves untouched', () => {
  it('take the byte lane: no middleware runs, the engine answers as is, the access log says lane', async () => {
    const before = seen.length;
    const { reply: r, line } = await logged(() => get('/v1.41/version?plain=1'));
    expect(r).toMatchObject({ status: 200, header: undefined });
    expect(JSON.parse(r.body)).toHaveProperty('ApiVersion');
    expect(seen.length).toBe(before);
    expect(line).toMatchObject({
      method: 'GET',
      operation: 'SystemVersion',
      path: '/version',
      status: 200,
      lane: true,
    });
    expect(tested.at(-1)).toEqual({ contentType: undefined, bodyLength: 0, query: 'plain=1' });
  });

  it('go through the pipeline as soon as one middleware would act', async () => {
    const before = seen.length;
    const { reply, line } = await logged(() => get('/version'));
    expect(reply).toMatchObject({ status: 200, header: 'pipeline' });
    expect(seen.slice(before)).toEqual(['GET /version', '/version']);
    expect(line).toMatchObject({ method: 'GET', operation: 'SystemVersion', path: '/version', status: 200 });
    expect(line.lane).toBeUndefined();
    // the catch-all middleware acts on a POST: pipeline, even on a route nothing else names
    const n = seen.length;
    expect((await get('/containers/dockhand-untouched-missing/stop', 'POST')).status).toBe(404);
    expect(seen.slice(n)).toEqual(['POST /containers/dockhand-untouched-missing/stop']);
  });

  it('see the framing the lane read: body length and content type', async () => {
    const body = '{}';
    const before = seen.length;
    const { reply: out, line } = await logged(() =>
      rawExchange(
        socket,
        `GET /version?plain=1 HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        { until: (s) => s.includes('"ApiVersion"') && s.trimEnd().endsWith('}') },
      ),
    );
    expect(statusOf(out)).toBe(200);
    expect(out).not.toMatch(/x-dockhand-test/i);
    expect(seen.length).toBe(before);
    expect(line).toMatchObject({ operation: 'SystemVersion', lane: true });
    expect(tested.at(-1)).toEqual({ contentType: 'application/json', bodyLength: 2, query: 'plain=1' });
  });

  it('go through the pipeline when a test throws', async () => {
    const before = seen.length;
    const { reply, line } = await logged(() => get('/version?plain=1&throw=1'));
    expect(reply).toMatchObject({ status: 200, header: 'pipeline' });
    expect(seen.slice(before)).toEqual(['GET /version', '/version']);
    expect(line.lane).toBeUndefined();
    expect(
      lines.some((l) => l.msg === 'an untouchedWhen test threw; the request goes through the pipeline'),
    ).toBe(true);
  });

  it('are logged with the status the client got, on either path', async () => {
    // the engine's 404 on the lane
    const missing = await logged(() => get('/v1.41/containers/dockhand-untouched-missing/json'));
    expect(missing.reply.status).toBe(404);
    expect(missing.line).toMatchObject({
      operation: 'ContainerInspect',
      path: '/containers/dockhand-untouched-missing/json',
      status: 404,
      lane: true,
    });
    // a middleware's refusal, and a path the proxy refuses before any middleware
    const refused = await logged(() => get('/containers/dockhand-untouched-refused/json'));
    expect(refused.reply.status).toBe(403);
    expect(refused.line).toMatchObject({ operation: 'ContainerInspect', status: 403 });
    expect(refused.line.lane).toBeUndefined();
    const ambiguous = await logged(() => get('/containers/a%2Fb/json'));
    expect(ambiguous.reply.status).toBe(400);
    expect(ambiguous.line).toMatchObject({ method: 'GET', status: 400, path: '/containers/a%2Fb/json' });
  });

  it('keep one connection on the lane around the requests the pipeline takes', async () => {
    // the pipeline's requests go to node:http over an in-process connection of the lane's, so the client's
    // connection is never handed over for them: before, the first one moved it to node:http for good
    const c = new Client('http://docker', { socketPath: socket });
    const accepted: unknown[] = [];
    const count = (s: unknown) => accepted.push(s);
    proxy.server.on('connection', count);
    try {
      const carried: { status: number; header: unknown; lane: unknown; seen: number }[] = [];
      for (const path of ['/version?plain=1', '/version', '/version?plain=1', '/_ping', '/version']) {
        const before = seen.length;
        const { reply, line } = await logged(async () => {
          const r = await c.request({ method: 'GET', path });
          await r.body.text();
          return r;
        });
        carried.push({
          status: reply.statusCode,
          header: reply.headers['x-dockhand-test'],
          lane: line.lane ?? false,
          seen: seen.length - before,
        });
      }
      expect(carried).toEqual([
        { status: 200, header: undefined, lane: true, seen: 0 },
        { status: 200, header: 'pipeline', lane: false, seen: 2 },
        { status: 200, header: undefined, lane: true, seen: 0 },
        { status: 200, header: undefined, lane: true, seen: 0 },
        { status: 200, header: 'pipeline', lane: false, seen: 2 },
      ]);
      expect(accepted.length).toBe(1);
    } finally {
      proxy.server.off('connection', count);
      await c.close();
    }
  });
});
