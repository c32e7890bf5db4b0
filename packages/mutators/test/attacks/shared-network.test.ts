// A network the operator shares (`shared.networks`): tenants may attach their own containers, but not take names
// or addresses there, where other tenants' containers are too (found by review, stop 20: an alias that was
// another tenant's container name drew that tenant's clients to the attacker's container).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy, type DockerProxy } from '@dockhand/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scopeToTenant, stampLabels } from '../../src/index.ts';
import { type Arena, arena, type Client, client, ENGINE_SOCKET, refused } from './harness.ts';

let a: Arena;
let proxy: DockerProxy;
let api: Client;
let dir: string | undefined;
let shared: string;
let own: string;

beforeAll(async () => {
  a = await arena();
  shared = `${a.run}-shared`;
  expect(
    (
      await a.engine.request('POST', '/networks/create', {
        body: { Name: shared, Labels: { 'dockhand.test': a.run } },
      })
    ).status,
  ).toBe(201);
  const labels = { 'dockhand.tenant': a.mallory.name, 'dockhand.test': a.run };
  proxy = createProxy({
    upstream: `unix://${ENGINE_SOCKET}`,
    middleware: [
      scopeToTenant({ label: `dockhand.tenant=${a.mallory.name}`, shared: { networks: [shared] } }),
      stampLabels({ labels }),
    ],
  });
  dir = await mkdtemp(join(tmpdir(), 'dockhand-shared-net-'));
  await proxy.listen(join(dir, 'p.sock'));
  api = client(join(dir, 'p.sock'));
  const c = await api.request('POST', `/containers/create?name=${a.mallory.name}-own`, {
    body: { Image: 'busybox', Cmd: ['sleep', '60'] },
  });
  expect(c.status, c.text).toBe(201);
  own = c.json.Id;
}, 120_000);

afterAll(async () => {
  await a?.engine.request('DELETE', `/containers/${own}?force=1`);
  await api?.pool.close();
  await proxy?.close();
  await a?.engine.request('DELETE', `/networks/${shared}`);
  await a?.[Symbol.asyncDispose]();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('a network the operator shares (scopeToTenant shared.networks)', () => {
  it.each<[string, Record<string, unknown>]>([
    ["Aliases (another tenant's container name)", { Aliases: ['db', 'victim-db'] }],
    ['Links', { Links: ['x:db'] }],
    ['IPAMConfig', { IPAMConfig: { IPv4Address: '172.30.0.5' } }],
  ])('takes no names or addresses there: %s, on create and on connect', async (_w, endpoint) => {
    const r = await api.request('POST', '/containers/create', {
      body: { Image: 'busybox', NetworkingConfig: { EndpointsConfig: { [shared]: endpoint } } },
    });
    refused(r, 403, /on the shared network/);
    const c = await api.request('POST', `/networks/${shared}/connect`, {
      body: { Container: own, EndpointConfig: endpoint },
    });
    refused(c, 403, /on the shared network/);
    expect(Object.keys((await a.inspect('containers', own)).json.NetworkSettings.Networks)).not.toContain(
      shared,
    );
  });

  it("still attaches the tenant's own containers, by their own names", async () => {
    const c = await api.request('POST', `/networks/${shared}/connect`, { body: { Container: own } });
    expect(c.status, c.text).toBe(200);
    expect(Object.keys((await a.inspect('containers', own)).json.NetworkSettings.Networks)).toContain(shared);
    expect(
      (await api.request('POST', `/networks/${shared}/disconnect`, { body: { Container: own } })).status,
    ).toBe(200);
  });

  it("joins only under a name of the tenant's own: a container name is a DNS name there (found by review, stop 21: a container named db, or as a victim container's short id, drew the victim's clients)", async () => {
    const victimShortId = (await a.victimContainer(`${a.run}-victim-db`)).slice(0, 12);
    for (const name of ['db', victimShortId]) {
      // on create, by network mode or endpoint
      for (const body of [
        { Image: 'busybox', HostConfig: { NetworkMode: shared } },
        { Image: 'busybox', NetworkingConfig: { EndpointsConfig: { [shared]: {} } } },
      ]) {
        refused(
          await api.request('POST', `/containers/create?name=${name}`, { body }),
          403,
          /cannot join the shared network/,
        );
      }
      // on connect, of a container of that name
      const other = await api.request('POST', `/containers/create?name=${name}`, {
        body: { Image: 'busybox' },
      });
      expect(other.status, other.text).toBe(201);
      refused(
        await api.request('POST', `/networks/${shared}/connect`, { body: { Container: other.json.Id } }),
        403,
        /cannot join the shared network/,
      );
      expect(
        Object.keys((await a.inspect('containers', other.json.Id)).json.NetworkSettings.Networks),
      ).not.toContain(shared);
      await a.engine.request('DELETE', `/containers/${other.json.Id}?force=1`);
    }
    // on rename, of a container on the network
    const joined = await api.request('POST', `/networks/${shared}/connect`, { body: { Container: own } });
    expect(joined.status, joined.text).toBe(200);
    refused(
      await api.request('POST', `/containers/${own}/rename?name=db`),
      403,
      /cannot join the shared network/,
    );
    expect((await a.inspect('containers', own)).json.Name).toBe(`/${a.mallory.name}-own`);
    await api.request('POST', `/networks/${shared}/disconnect`, { body: { Container: own } });
    // an own name, or the engine's generated one, joins
    const named = await api.request('POST', `/containers/create?name=${a.mallory.name}-db`, {
      body: { Image: 'busybox', HostConfig: { NetworkMode: shared } },
    });
    expect(named.status, named.text).toBe(201);
    const unnamed = await api.request('POST', '/containers/create', {
      body: { Image: 'busybox', HostConfig: { NetworkMode: shared } },
    });
    expect(unnamed.status, unnamed.text).toBe(201);
    for (const id of [named.json.Id, unnamed.json.Id])
      await a.engine.request('DELETE', `/containers/${id}?force=1`);
  });

  it("takes no host or domain name of the tenant's choosing there, which are DNS names too (found by review, stop 21)", async () => {
    for (const extra of [{ Hostname: 'workshop-api' }, { Domainname: 'example' }]) {
      refused(
        await api.request('POST', `/containers/create?name=${a.mallory.name}-h`, {
          body: { Image: 'busybox', HostConfig: { NetworkMode: shared }, ...extra },
        }),
        403,
        /cannot join the shared network/,
      );
      // made elsewhere first, then connected
      const c = await api.request('POST', `/containers/create?name=${a.mallory.name}-h`, {
        body: { Image: 'busybox', ...extra },
      });
      expect(c.status, c.text).toBe(201);
      refused(
        await api.request('POST', `/networks/${shared}/connect`, { body: { Container: c.json.Id } }),
        403,
        /cannot join the shared network/,
      );
      await a.engine.request('DELETE', `/containers/${c.json.Id}?force=1`);
    }
    // a host name of the tenant's own joins
    const own = await api.request('POST', `/containers/create?name=${a.mallory.name}-h`, {
      body: { Image: 'busybox', Hostname: `${a.mallory.name}-host`, HostConfig: { NetworkMode: shared } },
    });
    expect(own.status, own.text).toBe(201);
    await a.engine.request('DELETE', `/containers/${own.json.Id}?force=1`);
  });

  it("an endpoint's NetworkID names the network it is for: another one took the container onto the shared network past its checks (found by review, stop 21)", async () => {
    const mine = await api.request('POST', '/networks/create', {
      body: { Name: `${a.run}-mine`, Labels: { 'dockhand.test': a.run } },
    });
    expect(mine.status, mine.text).toBe(201);
    const alias = { NetworkID: shared, Aliases: ['workshop-api'] };
    refused(
      await api.request('POST', `/containers/create?name=db3`, {
        body: { Image: 'busybox', NetworkingConfig: { EndpointsConfig: { [`${a.run}-mine`]: alias } } },
      }),
      403,
      /NetworkID must name the network it is for/,
    );
    const c = await api.request('POST', `/containers/create?name=db2`, { body: { Image: 'busybox' } });
    expect(c.status, c.text).toBe(201);
    refused(
      await api.request('POST', `/networks/${a.run}-mine/connect`, {
        body: { Container: c.json.Id, EndpointConfig: alias },
      }),
      403,
      /NetworkID must name the network it is for/,
    );
    expect(
      Object.keys((await a.inspect('containers', c.json.Id)).json.NetworkSettings.Networks),
    ).not.toContain(shared);
    await a.engine.request('DELETE', `/containers/${c.json.Id}?force=1`);
    await a.engine.request('DELETE', `/networks/${mine.json.Id}`);
  });

  it("a rename and a connect sent at once do not put a name of the tenant's choosing there (found by review, stop 21)", async () => {
    for (let i = 0; i < 15; i++) {
      const c = await api.request('POST', `/containers/create?name=${a.mallory.name}-race${i}`, {
        body: { Image: 'busybox' },
      });
      expect(c.status, c.text).toBe(201);
      await Promise.all([
        api.request('POST', `/containers/${c.json.Id}/rename?name=dbx${i}`),
        api.request('POST', `/networks/${shared}/connect`, { body: { Container: c.json.Id } }),
      ]);
      const info = (await a.inspect('containers', c.json.Id)).json;
      if (Object.keys(info.NetworkSettings.Networks).includes(shared))
        expect(info.Name).toBe(`/${a.mallory.name}-race${i}`);
      await a.engine.request('DELETE', `/containers/${c.json.Id}?force=1`);
    }
  });

  it.each([
    ['alice-2', "extends another's name with a dash: alice-2-web is in alice's space too"],
    ['Alice', 'spells alice in DNS, which reads capitals as small letters'],
    ['-x', 'starts with a dash'],
    ['', 'is empty'],
  ])('a tenant named %s cannot share networks: its name %s (found by review, stop 21)', (tenant) => {
    expect(() =>
      scopeToTenant({ label: { key: 'dockhand.tenant', value: tenant }, shared: { networks: [shared] } }),
    ).toThrow(/may hold only lower-case letters, digits, '_' and '\.'/);
  });

  it('a tenant named with a dash still works where it shares no network', () => {
    expect(() => scopeToTenant({ label: 'dockhand.tenant=alice-2' })).not.toThrow();
    expect(() =>
      scopeToTenant({ label: 'dockhand.tenant=alice-2', tenantNetworks: ['alice-2_default'] }),
    ).not.toThrow();
    expect(() =>
      scopeToTenant({ label: 'dockhand.tenant=team_a.b2', shared: { networks: [shared] } }),
    ).not.toThrow();
  });
});
