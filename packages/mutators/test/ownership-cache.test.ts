// The ownership cache through a real proxy and the real engine: what it remembers of the tenant's objects leaves
// it when the object is removed, whichever way the removal comes (the tenant's own request, or the engine's event
// of a removal made elsewhere), so that it neither grows without bound nor vouches for a removed object.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy, type DockerProxy } from '@dockhand/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ownership, scopeToTenant, stampLabels } from '../src/index.ts';
import { type Client, client, ENGINE_SOCKET, refused } from './attacks/harness.ts';
import { eventually, unique } from './tenant/harness.ts';

const run = `own_${unique()}`;
const labels = { 'dockhand.tenant': run, 'dockhand.test': run };
const own = new Ownership({ key: 'dockhand.tenant', value: run });
const engine = client(ENGINE_SOCKET);
let proxy: DockerProxy;
let api: Client;
let dir: string;

beforeAll(async () => {
  proxy = createProxy({
    upstream: `unix://${ENGINE_SOCKET}`,
    middleware: [scopeToTenant({ label: `dockhand.tenant=${run}`, ownership: own }), stampLabels({ labels })],
  });
  dir = await mkdtemp(join(tmpdir(), 'dockhand-ownership-'));
  await proxy.listen(join(dir, 'p.sock'));
  api = client(join(dir, 'p.sock'));
});
afterAll(async () => {
  const f = encodeURIComponent(JSON.stringify({ label: [`dockhand.test=${run}`] }));
  for (const c of (await engine.request('GET', `/containers/json?all=1&filters=${f}`)).json ?? [])
    await engine.request('DELETE', `/containers/${c.Id}?force=1`);
  await api?.pool.close();
  await proxy?.close();
  own.close();
  await engine.pool.close();
  await rm(dir, { recursive: true, force: true });
});

/** A running container of the tenant's, made through the proxy, with `execs` exec sessions made on it. */
async function withExecs(execs: number): Promise<{ id: string; execIds: string[] }> {
  const c = await api.request('POST', `/containers/create?name=${run}-${unique()}`, {
    body: { Image: 'busybox', Cmd: ['sleep', '3600'] },
  });
  expect(c.status, c.text).toBe(201);
  expect((await api.request('POST', `/containers/${c.json.Id}/start`)).status).toBe(204);
  const execIds: string[] = [];
  for (let i = 0; i < execs; i++) {
    const e = await api.request('POST', `/containers/${c.json.Id}/exec`, { body: { Cmd: ['true'] } });
    expect(e.status, e.text).toBe(201);
    execIds.push(e.json.Id);
  }
  return { id: c.json.Id, execIds };
}

describe('the ownership cache forgets removed containers and their execs', { timeout: 60_000 }, () => {
  it("the tenant's own removal takes the container and its execs out at once", async () => {
    const before = own.sizes();
    const { id, execIds } = await withExecs(3);
    expect(own.sizes().exec).toBe(before.exec + 3);
    expect(own.knownOwned('container', id)).toBe(true);
    expect((await api.request('DELETE', `/containers/${id}?force=1`)).status).toBe(204);
    expect(own.sizes().exec).toBe(before.exec);
    expect(own.knownOwned('container', id)).toBe(false);
    // and the execs are refused as the daemon refuses an exec it no longer has
    refused(
      await api.request('GET', `/exec/${execIds[0]}/json`),
      404,
      `No such exec instance: ${execIds[0]}`,
    );
  });

  it("a removal made elsewhere (straight on the engine) takes them out when the engine's event arrives", async () => {
    const before = own.sizes();
    const { id } = await withExecs(2);
    expect(own.sizes().exec).toBe(before.exec + 2);
    expect((await engine.request('DELETE', `/containers/${id}?force=1`)).status).toBe(204);
    await eventually(
      'the cache has heard of the removal',
      async () => own.sizes().exec === before.exec && !own.knownOwned('container', id),
      30_000,
    );
  });
});
