// A tenant's event stream that is never read. The engine hands each subscriber its events through a buffer of
// 1,024; once a subscriber's is full, the engine waits 100 ms for it on every event, every tenant's, and every
// action that makes an event waits with it (measured straight on this engine in stop 26: a volume create and
// remove took 205 ms instead of 8, until the subscriber went away). A proxy that stops reading the engine's stream
// when its client stops reading passes that on: the proxy must read the engine's stream at the engine's pace.
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy, on } from '@dockhand/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arena, arena, ENGINE_SOCKET, secondProxy } from './harness.ts';

let a: Arena;
beforeAll(async () => {
  a = await arena();
}, 120_000);
afterAll(async () => a?.[Symbol.asyncDispose](), 120_000);

/** Containers the attacker makes and removes: two events each, every event carrying the label (32 KiB). */
const CONTAINERS = 60;
const BIG_LABEL = 'x'.repeat(32 * 1024);

describe('an event stream its client never reads', { timeout: 120_000 }, () => {
  it('does not stop the proxy reading the engine, and what the client is kept is bounded', async () => {
    // a relay in front of the engine that counts the events the tenant's proxy takes from the engine's stream
    const dir = await mkdtemp(join(tmpdir(), 'dockhand-slow-events-'));
    // (only on the client's stream: the proxy follows the engine's events for itself too, unfiltered)
    const clientFilters = JSON.stringify({ type: ['container'] });
    let taken = 0;
    const relay = createProxy({
      upstream: `unix://${ENGINE_SOCKET}`,
      middleware: [
        on('SystemEvents', async (ctx, next) => {
          await next();
          if (ctx.request.query.get('filters') !== clientFilters) return;
          ctx.response!.transformJsonLines((m) => {
            const e = m as { Actor?: { Attributes?: Record<string, string> } };
            if (e.Actor?.Attributes?.name?.startsWith(`${a.run}-big-`)) taken++;
            return m;
          });
        }),
      ],
    });
    await relay.listen(join(dir, 'engine.sock'));
    try {
      await using second = await secondProxy(a.mallory, `unix://${join(dir, 'engine.sock')}`);
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
      const replay = await a.engine.request(
        'GET',
        `/events?since=${since}&until=${until}&filters=${filters}`,
      );
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
    } finally {
      await relay.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
