// An engine in trouble: the proxy's own lookups answered with an error. Every check must fail closed (502), never
// take an answer it did not understand as "nothing there" and send the request on unresolved (found by review,
// stop 26: one 500 on an image lookup let a tenant tag, inspect, save, delete and run another tenant's image).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arena, arena, build, faultedProxy, refused } from './harness.ts';

let a: Arena;
let victimName: string;
let victimId: string;
let ownName: string;
beforeAll(async () => {
  a = await arena();
  victimName = `${a.run}-victim-img`;
  const labels = encodeURIComponent(JSON.stringify({ 'dockhand.test': a.run }));
  const v = await build(
    a.victim.api,
    `t=${victimName}&labels=${labels}`,
    'FROM busybox\nRUN echo victim-secret > /secret\n',
  );
  expect(v.id, v.reply.text).toBeDefined();
  victimId = v.id!;
  ownName = `${a.run}-own-img`;
  const m = await build(
    a.mallory.api,
    `t=${ownName}&labels=${labels}`,
    'FROM busybox\nRUN echo own > /secret\n',
  );
  expect(m.id, m.reply.text).toBeDefined();
}, 120_000);
afterAll(async () => a?.[Symbol.asyncDispose](), 120_000);

const imageLookup = (name: () => string) => (line: string) => line.startsWith(`GET /images/${name()}`);

describe('an engine that fails a lookup of the proxy once', () => {
  it.each<[string, () => [string, string], () => string]>([
    [
      'a tag onto the name of the victim image',
      () => ['POST', `/images/${ownName}/tag?repo=${victimName}&tag=latest`],
      () => `${victimName}:latest`,
    ],
    ['an inspect of the victim image', () => ['GET', `/images/${victimName}/json`], () => victimName],
    ['a save of the victim image', () => ['GET', `/images/${victimName}:latest/get`], () => victimName],
    ['a delete of the victim image', () => ['DELETE', `/images/${victimName}`], () => victimName],
    ['a history of the victim image', () => ['GET', `/images/${victimName}/history`], () => victimName],
  ])('%s is answered 502, and the victim image is unchanged', async (_w, request, looked) => {
    await using second = await faultedProxy(a.mallory, imageLookup(looked));
    const [method, path] = request();
    const r = await second.api.request(method, path);
    expect(second.faulted.length, 'the lookup was failed').toBe(1);
    refused(r, 502, /cannot be looked up here/);
    expect(r.text).not.toContain('victim-secret');
    expect((await a.inspect('images', `${victimName}:latest`)).json.Id).toBe(victimId);
  });

  it('a create from the victim image (its working directory given) is answered 502, and nothing is created', async () => {
    await using second = await faultedProxy(
      a.mallory,
      imageLookup(() => victimName),
    );
    const name = `${a.run}-fault-create`;
    const r = await second.api.request('POST', `/containers/create?name=${name}`, {
      body: {
        Image: victimName,
        WorkingDir: '/',
        Cmd: ['cat', '/secret'],
        Labels: { 'dockhand.test': a.run },
      },
    });
    expect(second.faulted.length).toBe(1);
    refused(r, 502);
    expect((await a.inspect('containers', name)).status).toBe(404);
  });

  // found by review (stop 26): one failed /version made the proxy take the engine for API 1.41 for good: subpath
  // binds refused, the socket bound by its host path
  it("a failed /version is not kept: the next request reads the engine's version", async () => {
    await using second = await faultedProxy(a.mallory, (line) => line.startsWith('GET /version'));
    const body = {
      Image: 'busybox',
      Cmd: ['true'],
      Labels: { 'dockhand.test': a.run },
      HostConfig: { Binds: ['/home/coder/project/sub:/w'] },
    };
    const first = await second.api.request('POST', '/containers/create', { body });
    expect(second.faulted.length).toBe(1);
    refused(first, 502, /API version cannot be read/);
    const next = await second.api.request('POST', '/containers/create', { body });
    // as a proxy that read the version answers: on Engine 26 (API 1.45) a subpath mount; on 20.10, which has none,
    // the refusal that names the engine's API version (which a version kept from the failure named too)
    const control = await a.mallory.api.request('POST', '/containers/create', { body });
    expect(next.status, next.text).toBe(control.status);
    if (control.status === 201) {
      const mounts = (await a.inspect('containers', next.json.Id)).json.HostConfig.Mounts;
      expect(mounts).toEqual([
        expect.objectContaining({
          Type: 'volume',
          VolumeOptions: expect.objectContaining({ Subpath: 'sub' }),
        }),
      ]);
    } else expect(next.json).toEqual(control.json);
  });
});
