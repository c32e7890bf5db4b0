// A volume create of a name the tenant already has is answered with the existing volume. When a removal of that
// volume takes effect between the engine's answer and the proxy's reading of it, the answer describes a volume
// that is gone: the ownership cache must not take the name back, or the events of whoever takes the name next
// pass as the tenant's (found by review, stop 26: another tenant's volume's create, mount and unmount, with its
// container's full id, 5 wins in about 1,000 tries on the real engine). Here the window is made as wide as the
// test needs: the engine's answers to volume creates reach the proxy 400 ms late.
import { mkdtemp, rm } from 'node:fs/promises';
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

describe('a volume create answered as the volume is removed', { timeout: 60_000 }, () => {
  it("does not make the name the tenant's again: the next volume of that name, another tenant's, shows nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dockhand-create-race-'));
    const late = createProxy({
      upstream: `unix://${ENGINE_SOCKET}`,
      middleware: [
        on('VolumeCreate', async (_ctx, next) => {
          await next();
          await new Promise((r) => setTimeout(r, 400));
        }),
      ],
    });
    await late.listen(join(dir, 'engine.sock'));
    try {
      await using mallory = await secondProxy(a.mallory, `unix://${join(dir, 'engine.sock')}`);
      const name = `${a.run}-raced`;
      expect((await mallory.api.request('POST', '/volumes/create', { body: { Name: name } })).status).toBe(
        201,
      );
      // the create is answered with the existing volume at once, and that answer held; the removal meanwhile
      const again = mallory.api.request('POST', '/volumes/create', { body: { Name: name } });
      await new Promise((r) => setTimeout(r, 150));
      expect((await mallory.api.request('DELETE', `/volumes/${name}`)).status).toBe(204);
      expect((await again).status).toBe(201);
      expect((await a.inspect('volumes', name)).status, 'removed on the engine').toBe(404);

      // the victim takes the name, and uses it
      const since = Math.floor(Date.now() / 1000) - 1;
      await new Promise((r) => setTimeout(r, 1100));
      expect(
        (
          await a.victim.api.request('POST', '/volumes/create', {
            body: { Name: name, Labels: { 'dockhand.test': a.run } },
          })
        ).status,
      ).toBe(201);
      const user = await a.victimContainer(`${a.run}-raced-user`, {
        HostConfig: { Binds: [`${name}:/data`] },
      });
      await a.engine.request('DELETE', `/containers/${user}?force=1`);
      const until = Math.floor(Date.now() / 1000) + 1;
      const filters = encodeURIComponent(JSON.stringify({ type: ['volume'] }));
      const path = `/events?since=${since}&until=${until}&filters=${filters}`;
      const straight = (await a.engine.request('GET', path)).text;
      expect(straight, 'the victim used the volume').toContain(user);
      const through = await mallory.api.request('GET', path);
      expect(through.status).toBe(200);
      expect(through.text).not.toContain(user);
      expect(through.text).not.toContain(`"${name}"`);
      // and it is not the tenant's to remove
      expect((await mallory.api.request('DELETE', `/volumes/${name}`)).status).toBe(404);
    } finally {
      await late.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
