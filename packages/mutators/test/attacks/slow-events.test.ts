// A tenant's event stream that is never read. The engine hands each subscriber its events through a buffer of
// 1,024; once a subscriber's is full, the engine waits 100 ms for it on every event, every tenant's, and every
// action that makes an event waits with it (measured straight on this engine in stop 26: a volume create and
// remove took 205 ms instead of 8, until the subscriber went away). A proxy that stops reading the engine's stream
// when its client stops reading passes that on: the proxy must read the engine's stream at the engine's pace.
// A container's stats stream is served by the engine the same way (a collector shared by every container, which
// waits 100 ms a round for each stream that has not taken 1,024 stats).
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy, type Middleware, on } from '@dockhand/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arena, arena, ENGINE_SOCKET, secondProxy } from './harness.ts';

let a: Arena;
beforeAll(async () => {
  a = await arena();
}, 120_000);
afterAll(async () => a?.[Symbol.asyncDispose](), 120_000);

/**
 * A plain proxy in front of the engine whose middleware sees what the tenant's proxy takes from the engine; the
 * tenant's second proxy ({@link secondProxy}) goes through it as its engine.
 */
async function engineRelay(middleware: Middleware): Promise<{ upstream: string } & AsyncDisposable> {
  const dir = await mkdtemp(join(tmpdir(), 'dockhand-relay-'));
  const relay = createProxy({ upstream: `unix://${ENGINE_SOCKET}`, middleware: [middleware] });
  await relay.listen(join(dir, 'engine.sock'));
  return {
    upstream: `unix://${join(dir, 'engine.sock')}`,
    async [Symbol.asyncDispose]() {
      await relay.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Containers the attacker makes and removes: two events each, every event carrying the label (32 KiB). */
const CONTAINERS = 60;
const BIG_LABEL = 'x'.repeat(32 * 1024);

describe('an event stream its client never reads', { timeout: 120_000 }, () => {
  it('does not stop the proxy reading the engine, and what the client is kept is bounded', async () => {
    // a relay in front of the engine that counts the events the tenant's proxy takes from the engine's stream
    // (only on the client's stream: the proxy follows the engine's events for itself too, unfiltered)
    const clientFilters = JSON.stringify({ type: ['container'] });
    let taken = 0;
    await using relay = await engineRelay(
      on('SystemEvents', async (ctx, next) => {
        await next();
        if (ctx.request.query.get('filters') !== clientFilters) return;
        ctx.response!.transformJsonLines((m) => {
          const e = m as { Actor?: { Attributes?: Record<string, string> } };
          if (e.Actor?.Attributes?.name?.startsWith(`${a.run}-big-`)) taken++;
          return m;
        });
      }),
    );
    // (disposed before the relay: in the reverse order)
    await using second = await secondProxy(a.mallory, relay.upstream);
    // `docker events` that never reads what it asked for
    const events = connect(second.socket);
    await once(events, 'connect');
    events.write(`GET /events?filters=${encodeURIComponent(clientFilters)} HTTP/1.1\r\nHost: d\r\n\r\n`);
    events.pause();
    await new Promise((r) => setTimeout(r, 300));
    const since = Math.floor(Date.now() / 1000) - 1;

    for (let i = 0; i < CONTAINERS; i++) {
      const c = await a.mallory.api.request('POST', `/containers/create?name=${a.run}-big-${i}`, {
        body: { Image: 'busybox', Labels: { 'dockhand.test': a.run, 'dockhand.big': BIG_LABEL } },
      });
      expect(c.status, c.text).toBe(201);
      expect((await a.mallory.api.request('DELETE', `/containers/${c.json.Id}`)).status).toBe(204);
    }
    // the events the engine made of them (create, destroy, ...), as its own replay gives them
    const until = Math.floor(Date.now() / 1000) + 1;
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'], label: ['dockhand.big'] }));
    const replay = await a.engine.request('GET', `/events?since=${since}&until=${until}&filters=${filters}`);
    const made = replay.text.split('\n').filter((l) => l.includes(`${a.run}-big-`)).length;
    expect(made).toBeGreaterThanOrEqual(2 * CONTAINERS);
    // every one reaches the proxy, while its client reads nothing (before: it stopped taking them once about
    // 1.5 MiB waited for the client, and the engine's buffer for it filled from there)
    const t0 = Date.now();
    while (taken < made && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 100));
    expect(taken).toBe(made);

    // what was kept for the client is bounded: it gets some of the events, not all 3.75 MiB of them
    let received = 0;
    events.setEncoding('latin1').on('data', (d: string) => {
      received += d.split('"dockhand.big"').length - 1;
    });
    events.resume();
    await new Promise((r) => setTimeout(r, 1500));
    events.destroy();
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(made / 2);
  });
});

describe('a stats stream its client never reads', { timeout: 120_000 }, () => {
  it('does not stop the proxy reading the engine, and the client gets whole messages', async () => {
    // the tenant's running container, and a relay in front of the engine that makes each of its stats 1 MiB (the
    // engine's are about 2 KiB a second: its 1,024 take 17 minutes to pile up) and counts those the proxy takes
    const c = await a.mallory.api.request('POST', `/containers/create?name=${a.run}-stats`, {
      body: { Image: 'busybox', Cmd: ['sleep', '120'], Labels: { 'dockhand.test': a.run } },
    });
    expect(c.status, c.text).toBe(201);
    const id = c.json.Id as string;
    expect((await a.mallory.api.request('POST', `/containers/${id}/start`)).status).toBe(204);
    let taken = 0;
    await using relay = await engineRelay(
      on('ContainerStats', async (ctx, next) => {
        await next();
        ctx.response!.transformJsonLines((m) => {
          taken++;
          return { ...(m as object), pad: 'x'.repeat(1024 * 1024) };
        });
      }),
    );
    try {
      await using second = await secondProxy(a.mallory, relay.upstream);
      // by its full id, as `docker stats` asks: a container the proxy knows to be the tenant's
      expect((await second.api.request('GET', `/containers/${id}/json`)).status).toBe(200);
      const stats = connect(second.socket);
      await once(stats, 'connect');
      stats.write(`GET /containers/${id}/stats?stream=1 HTTP/1.1\r\nHost: d\r\n\r\n`);
      stats.pause();
      // the engine sends one a second: they all reach the proxy while its client reads nothing (before: the
      // proxy stopped taking them after two, and the engine's buffer for the stream filled from there)
      await new Promise((r) => setTimeout(r, 8_000));
      expect(taken).toBeGreaterThanOrEqual(6);

      // what the client then reads is whole messages, the first of which it was sent
      let text = '';
      stats.setEncoding('latin1').on('data', (d: string) => {
        text += d;
      });
      stats.resume();
      await new Promise((r) => setTimeout(r, 2_500));
      stats.destroy();
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      const lines = body.split('\n').filter((l) => l.includes('"pad"'));
      expect(lines.length).toBeGreaterThan(0);
      // (a chunked body: each line is read from its opening brace to its closing one)
      for (const line of lines) {
        const json = line.slice(line.indexOf('{'), line.lastIndexOf('}') + 1);
        expect(() => JSON.parse(json)).not.toThrow();
      }
    } finally {
      await a.engine.request('DELETE', `/containers/${id}?force=1`);
    }
  });
});
