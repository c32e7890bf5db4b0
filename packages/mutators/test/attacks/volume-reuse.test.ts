// A volume's id is its name, which another tenant may take as soon as the volume is gone. The ownership cache
// learns that a volume is gone from the engine's `destroy` event, which may come late: until then, a cached
// "owned" must not let the tenant mount someone else's volume of the same name. The event stream is left out here
// (the cache is not watched), so that the window is as long as the test needs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy, type DockerProxy, type Middleware } from '@dockhand/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountPolicy, Ownership, stampLabels } from '../../src/index.ts';
import { type Arena, arena, type Client, client, ENGINE_SOCKET, refused, secondProxy } from './harness.ts';

let a: Arena;
let proxy: DockerProxy;
let api: Client;
let dir: string | undefined;
const labels: Record<string, string> = {};

beforeAll(async () => {
  a = await arena();
  Object.assign(labels, { 'dockhand.tenant': a.mallory.name, 'dockhand.test': a.run });
  const own = new Ownership({ key: 'dockhand.tenant', value: a.mallory.name });
  const connect: Middleware = async (ctx, next) => {
    own.connect(ctx.upstream);
    await next();
  };
  proxy = createProxy({
    upstream: `unix://${ENGINE_SOCKET}`,
    middleware: [connect, mountPolicy({ ownership: own, labels }), stampLabels({ labels })],
  });
  dir = await mkdtemp(join(tmpdir(), 'dockhand-volreuse-'));
  const socket = join(dir, 'p.sock');
  await proxy.listen(socket);
  api = client(socket);
}, 120_000);
afterAll(async () => {
  await api?.pool.close();
  await proxy?.close();
  await a?.[Symbol.asyncDispose]();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('a volume name taken by another tenant before the cache hears the volume is gone (mountPolicy)', () => {
  it("is not mounted as the tenant's: the engine is asked", async () => {
    const name = `${a.run}-reused`;
    const mount = (container: string) =>
      api.request('POST', `/containers/create?name=${container}`, {
        body: { Image: 'busybox', Cmd: ['true'], HostConfig: { Binds: [`${name}:/data`] } },
      });
    // the tenant's own volume, created (and cached as its) by its first mount
    const first = await mount(`${a.run}-reuse1`);
    expect(first.status, first.text).toBe(201);
    expect((await a.inspect('volumes', name)).json.Labels['dockhand.tenant']).toBe(a.mallory.name);
    // gone, and the name taken by the victim at once
    expect((await a.engine.request('DELETE', `/containers/${first.json.Id}`)).status).toBe(204);
    expect((await a.engine.request('DELETE', `/volumes/${name}`)).status).toBe(204);
    const taken = await a.engine.request('POST', '/volumes/create', {
      body: { Name: name, Labels: a.victimLabels },
    });
    expect(taken.status).toBe(201);
    const second = await mount(`${a.run}-reuse2`);
    refused(second, 403, new RegExp(`mounting volume '${name}'`));
    expect((await a.inspect('containers', `${a.run}-reuse2`)).status).toBe(404);
  });
});

describe('volumes the engine makes for a create (workshopTenant; found by review, stop 20)', () => {
  it('a volume removed while the proxy checked the rest of the create is not left made by the engine without a label', async () => {
    const name = `${a.run}-raced-vol`;
    await a.ownContainer(`${a.run}-raced-holder`);
    expect((await a.mallory.api.request('POST', '/volumes/create', { body: { Name: name } })).status).toBe(
      201,
    );
    // the volume is checked first; 1500 links to resolve after it make the window a long one
    const create = a.mallory.api.request('POST', `/containers/create?name=${a.run}-raced`, {
      body: {
        Image: 'busybox',
        Labels: { 'dockhand.test': a.run },
        HostConfig: {
          Binds: [`${name}:/d`],
          Links: Array.from({ length: 1500 }, (_, i) => `${a.run}-raced-holder:l${i}`),
        },
      },
    });
    await new Promise((r) => setTimeout(r, 100));
    // through a second proxy of the tenant: the first holds its own removals until the create is answered
    // (holdNames, since stop 24; name-races.test.ts), a second does not, and this check is the last line
    await using second = await secondProxy(a.mallory);
    expect((await second.api.request('DELETE', `/volumes/${name}`)).status).toBe(204);
    const r = await create;
    try {
      refused(r, 403, /was removed while the container was created/);
      expect((await a.inspect('containers', `${a.run}-raced`)).status).toBe(404);
      // no volume of that name without the tenant's label: removed, as the engine made it
      const v = await a.inspect('volumes', name);
      if (v.status === 200) expect(v.json.Labels?.['dockhand.tenant']).toBe(a.mallory.name);
      else expect(v.status).toBe(404);
    } finally {
      await a.engine.request('DELETE', `/containers/${a.run}-raced?force=1`);
      await a.engine.request('DELETE', `/volumes/${name}`);
    }
  });

  it("an anonymous volume a mount asks to label as another tenant's is the tenant's own", async () => {
    const r = await a.mallory.api.request('POST', '/containers/create', {
      body: {
        Image: 'busybox',
        Labels: { 'dockhand.test': a.run },
        HostConfig: {
          Mounts: [
            {
              Type: 'volume',
              Target: '/d',
              VolumeOptions: { Labels: { 'dockhand.tenant': a.victim.name, 'dockhand.test': a.run, x: 'y' } },
            },
          ],
        },
      },
    });
    expect(r.status, r.text).toBe(201);
    const mount = (await a.inspect('containers', r.json.Id)).json.Mounts[0];
    const v = await a.inspect('volumes', mount.Name);
    try {
      expect(v.json.Labels).toMatchObject({ 'dockhand.tenant': a.mallory.name, x: 'y' });
      // the victim does not see it
      refused(await a.victim.api.request('GET', `/volumes/${mount.Name}`), 404);
    } finally {
      await a.engine.request('DELETE', `/containers/${r.json.Id}?force=1`);
      await a.engine.request('DELETE', `/volumes/${mount.Name}`);
    }
  });
});

describe('VolumesFrom (mountPolicy; found by review, stop 20)', () => {
  it("copies another container's volumes by name: the volume cannot be removed and taken again under the copy", async () => {
    const name = `${a.run}-vf-vol`;
    expect((await a.mallory.api.request('POST', '/volumes/create', { body: { Name: name } })).status).toBe(
      201,
    );
    const holder = await a.ownContainer(`${a.run}-vf-holder`, { HostConfig: { Binds: [`${name}:/data`] } });
    const spy = await a.mallory.api.request('POST', `/containers/create?name=${a.run}-vf-spy`, {
      body: {
        Image: 'busybox',
        Cmd: ['ls', '/data'],
        Labels: { 'dockhand.test': a.run },
        HostConfig: { VolumesFrom: [`${a.run}-vf-holder:ro`] },
      },
    });
    expect(spy.status, spy.text).toBe(201);
    try {
      const mounts = (await a.inspect('containers', spy.json.Id)).json.HostConfig.Mounts;
      expect(mounts).toEqual([
        expect.objectContaining({ Type: 'volume', Source: name, Target: '/data', ReadOnly: true }),
      ]);
      expect((await a.mallory.api.request('DELETE', `/containers/${holder}?force=1`)).status).toBe(204);
      // the engine holds the volume for the copy: it is not removed, so no other volume can take its name
      expect((await a.mallory.api.request('DELETE', `/volumes/${name}`)).status).toBe(409);
      expect((await a.inspect('volumes', name)).json.Labels?.['dockhand.tenant']).toBe(a.mallory.name);
    } finally {
      await a.engine.request('DELETE', `/containers/${spy.json.Id}?force=1`);
      await a.engine.request('DELETE', `/containers/${holder}?force=1`);
      await a.engine.request('DELETE', `/volumes/${name}`);
    }
  });

  it('a copied volume removed and made again by another tenant while the create was checked is not mounted (found by review, stop 20)', async () => {
    const name = `${a.run}-vf-race`;
    expect((await a.mallory.api.request('POST', '/volumes/create', { body: { Name: name } })).status).toBe(
      201,
    );
    const holder = await a.ownContainer(`${a.run}-vf-race-holder`, {
      HostConfig: { Binds: [`${name}:/data`] },
    });
    await a.ownContainer(`${a.run}-vf-race-link`);
    // the copy is checked first; 1500 links to resolve after it make the window a long one
    const spy = a.mallory.api.request('POST', `/containers/create?name=${a.run}-vf-race-spy`, {
      body: {
        Image: 'busybox',
        Labels: { 'dockhand.test': a.run },
        HostConfig: {
          VolumesFrom: [holder],
          Links: Array.from({ length: 1500 }, (_, i) => `${a.run}-vf-race-link:l${i}`),
        },
      },
    });
    await new Promise((r) => setTimeout(r, 100));
    // through a second proxy of the tenant, which holdNames does not hold (see above)
    await using second = await secondProxy(a.mallory);
    expect((await second.api.request('DELETE', `/containers/${holder}?force=1`)).status).toBe(204);
    expect((await second.api.request('DELETE', `/volumes/${name}`)).status).toBe(204);
    // the victim makes a volume of that name, through its own proxy
    expect((await a.victim.api.request('POST', '/volumes/create', { body: { Name: name } })).status).toBe(
      201,
    );
    try {
      refused(await spy, 403, /was removed while the container was created/);
      expect((await a.inspect('containers', `${a.run}-vf-race-spy`)).status).toBe(404);
      expect((await a.inspect('volumes', name)).json.Labels['dockhand.tenant']).toBe(a.victim.name);
    } finally {
      await a.engine.request('DELETE', `/containers/${a.run}-vf-race-spy?force=1`);
      await a.engine.request('DELETE', `/volumes/${name}`);
    }
  });

  it("copies a container's anonymous volume, the data-container pattern", async () => {
    const holder = await a.ownContainer(`${a.run}-vf-data`, { Volumes: { '/shared': {} } });
    const user = await a.mallory.api.request('POST', '/containers/create', {
      body: { Image: 'busybox', Labels: { 'dockhand.test': a.run }, HostConfig: { VolumesFrom: [holder] } },
    });
    expect(user.status, user.text).toBe(201);
    try {
      const holderVolume = (await a.inspect('containers', holder)).json.Mounts[0].Name;
      const userMounts = (await a.inspect('containers', user.json.Id)).json.Mounts;
      expect(userMounts).toEqual([
        expect.objectContaining({ Name: holderVolume, Destination: '/shared', RW: true }),
      ]);
    } finally {
      await a.engine.request('DELETE', `/containers/${user.json.Id}?force=1`);
      await a.engine.request('DELETE', `/containers/${holder}?force=1&v=1`);
    }
  });
});
