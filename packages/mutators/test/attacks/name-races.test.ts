// Names a tenant frees while a request of its own that named them is in flight (found by review, stop 24): the
// proxy checks an image or volume by name and sends the name on, and the engine reads it again. Where the tenant
// removed the name in between, another tenant could take it and the engine act on the other tenant's image or
// volume. `holdNames` makes the tenant's own removals wait for such requests; a save names the tags it checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arena, arena, build, refused, tappedProxy } from './harness.ts';

let a: Arena;
let anchor: string;
let victimImage: string;
const own = (suffix: string) => `${a.run}-${suffix}`;

beforeAll(async () => {
  a = await arena();
  anchor = await a.ownContainer(own('anchor'));
  const holder = await a.victimContainer(own('victim-holder'), {}, false);
  victimImage = (
    await a.engine.request('POST', `/commit?container=${holder}`, {
      body: { Labels: a.victimLabels, Cmd: ['echo', 'VICTIM-IMAGE'] },
    })
  ).json.Id;
}, 120_000);
afterAll(async () => {
  if (victimImage) await a.engine.request('DELETE', `/images/${victimImage}?force=1`);
  await a?.[Symbol.asyncDispose]();
}, 120_000);

/** A create made slow by the references the proxy resolves: 3,000 `VolumesFrom` of the tenant's own container. */
const slowCreate = (name: string, extra: Record<string, unknown>) =>
  a.mallory.api.request('POST', `/containers/create?name=${name}`, {
    body: {
      Cmd: ['true'],
      Labels: { 'dockhand.test': a.run },
      ...extra,
      HostConfig: {
        VolumesFrom: Array.from({ length: 3000 }, () => anchor),
        ...((extra.HostConfig as object | undefined) ?? {}),
      },
    },
  });

/** Runs `request`, recording when it ended. */
const timed = async <T>(request: Promise<T>) => {
  const reply = await request;
  return { reply, at: performance.now() };
};

describe('a name the tenant frees while a request that named it is in flight (holdNames)', {
  timeout: 60_000,
}, () => {
  it("a create by image name, the tag removed meanwhile and taken by the victim: the create runs the tenant's own image", async () => {
    const name = own('swapped');
    const mine = (await a.mallory.api.request('POST', `/commit?container=${anchor}&repo=${name}&tag=latest`))
      .json.Id as string;
    const create = timed(slowCreate(own('swap-c'), { Image: name }));
    await new Promise((r) => setTimeout(r, 100));
    const sent = performance.now();
    const removal = timed(a.mallory.api.request('DELETE', `/images/${name}`));
    // the victim takes the name as soon as it is free
    let taken = false;
    const victim = (async () => {
      for (let i = 0; i < 400 && !taken; i++) {
        const r = await a.victim.api.request('POST', `/images/${victimImage}/tag?repo=${name}&tag=latest`);
        if (r.status === 201) taken = true;
        else await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const [c, d] = await Promise.all([create, removal]);
    await victim;
    expect(c.at, 'the create must still be in flight when the removal is sent').toBeGreaterThan(sent);
    expect(c.reply.status, c.reply.text).toBe(201);
    expect((await a.inspect('containers', c.reply.json.Id)).json.Image).toBe(mine);
    expect(d.at).toBeGreaterThanOrEqual(c.at);
    await a.engine.request('DELETE', `/images/${name}:latest`);
  });

  it("a create mounting a volume by name, the volume removed meanwhile: the removal waits, and the volume stays the tenant's", async () => {
    const volume = own('held-vol');
    expect((await a.mallory.api.request('POST', '/volumes/create', { body: { Name: volume } })).status).toBe(
      201,
    );
    const create = timed(
      slowCreate(own('vol-c'), { Image: 'busybox', HostConfig: { Binds: [`${volume}:/stolen`] } }),
    );
    await new Promise((r) => setTimeout(r, 100));
    const sent = performance.now();
    const removal = timed(a.mallory.api.request('DELETE', `/volumes/${volume}`));
    const victim = a.victim.api.request('POST', '/volumes/create', { body: { Name: volume } });
    const [c, d] = await Promise.all([create, removal]);
    expect(c.at, 'the create must still be in flight when the removal is sent').toBeGreaterThan(sent);
    expect(c.reply.status, c.reply.text).toBe(201);
    // the removal came after the create, which uses the volume: the engine refuses it
    expect(d.at).toBeGreaterThanOrEqual(c.at);
    refused(d.reply, 409, /in use/);
    expect((await victim).status).not.toBe(201);
    const v = (await a.inspect('volumes', volume)).json;
    expect(v.Labels['dockhand.tenant']).toBe(a.mallory.name);
    await a.engine.request('DELETE', `/containers/${c.reply.json.Id}?force=1`);
  });

  // suspected by review (stop 24), closed by 46d4bdf: the window is a round trip wide, widened here by a recording
  // proxy that holds each read of the volume for 300 ms on its way to the engine
  it("a volume inspect, the volume removed meanwhile and taken by the victim: the inspect shows the tenant's own", async () => {
    const volume = own('inspected-vol');
    expect((await a.mallory.api.request('POST', '/volumes/create', { body: { Name: volume } })).status).toBe(
      201,
    );
    await using tapped = await tappedProxy(a.mallory, (line) =>
      line.startsWith(`GET /volumes/${volume}?`) ? 300 : 0,
    );
    const inspect = timed(tapped.api.request('GET', `/volumes/${volume}`));
    await new Promise((r) => setTimeout(r, 100));
    const removal = timed(tapped.api.request('DELETE', `/volumes/${volume}`));
    let taken = false;
    const victim = (async () => {
      for (let i = 0; i < 400 && !taken; i++) {
        const r = await a.victim.api.request('POST', '/volumes/create', { body: { Name: volume } });
        taken =
          r.status === 201 &&
          (await a.inspect('volumes', volume)).json.Labels['dockhand.tenant'] === a.victim.name;
        if (!taken) await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const [i, d] = await Promise.all([inspect, removal]);
    await victim;
    expect(taken, 'the victim must take the name once it is free').toBe(true);
    expect(d.reply.status, d.reply.text).toBe(204);
    expect(i.reply.status, i.reply.text).toBe(200);
    expect(i.reply.json.Labels['dockhand.tenant']).toBe(a.mallory.name);
    // every read of the name (the checks and the inspect itself) was answered before the removal reached the engine
    const reads = tapped.done.lastIndexOf(`GET /volumes/${volume}?`);
    expect(reads).toBeGreaterThanOrEqual(0);
    expect(tapped.done.indexOf(`DELETE /volumes/${volume}?`)).toBeGreaterThan(reads);
    await a.engine.request('DELETE', `/volumes/${volume}`);
  });

  it('a save of a repository names the tags it checked: a tag the victim adds meanwhile is not saved', async () => {
    const repo = own('repo');
    const filler = own('z');
    for (const [r, t] of [
      [repo, 'mine'],
      [filler, 'latest'],
    ] as const)
      expect(
        (await a.mallory.api.request('POST', `/commit?container=${anchor}&repo=${r}&tag=${t}`)).status,
      ).toBe(201);
    const query = [repo, ...Array.from({ length: 300 }, () => filler)].map((n) => `names=${n}`).join('&');
    const save = a.mallory.api.request('GET', `/images/get?${query}`);
    await new Promise((r) => setTimeout(r, 200));
    const tagged = await a.victim.api.request('POST', `/images/${victimImage}/tag?repo=${repo}&tag=latest`);
    const r = await save;
    expect(r.status).toBe(200);
    expect(tagged.status, 'the victim must take the free tag while the save is checked').toBe(201);
    const saved = [...r.text.matchAll(/"RepoTags":\[([^\]]*)\]/g)].map((m) => m[1]).join(',');
    expect(saved).toContain(`${repo}:mine`);
    expect(saved).not.toContain(`${repo}:latest`);
    expect(r.text).not.toContain(victimImage.slice('sha256:'.length));
    // a repository of several tags (all the tenant's) cannot be saved through /images/{name}/get, which names one
    await a.engine.request('DELETE', `/images/${repo}:latest`);
    expect(
      (await a.mallory.api.request('POST', `/images/${repo}:mine/tag?repo=${repo}&tag=two`)).status,
    ).toBe(201);
    refused(await a.mallory.api.request('GET', `/images/${repo}/get`), 403, /has 2 tags: save them by name/);
    for (const t of [`${repo}:mine`, `${repo}:two`, `${filler}:latest`])
      await a.engine.request('DELETE', `/images/${encodeURIComponent(t)}`);
  });

  // found by compatibility review (stop 24): a removal waited for the whole answer of a save, which a client that
  // stopped reading never ended (python3-docker's save, then a remove: a deadlock), and a volume removal waited
  // for a whole classic build, which names no volume
  it('a removal waits for a save only until the engine has begun its answer, not for a client that stops reading', async () => {
    const other = own('unrelated');
    expect(
      (await a.mallory.api.request('POST', `/commit?container=${anchor}&repo=${other}&tag=1`)).status,
    ).toBe(201);
    const save = await a.mallory.api.pool.request({
      method: 'GET',
      path: '/images/get?names=busybox:latest',
    });
    expect(save.statusCode).toBe(200);
    // the save's body is left unread while the tenant removes another image
    const removed = await a.mallory.api.request('DELETE', `/images/${other}:1`);
    expect(removed.status, removed.text).toBe(200);
    await save.body.dump();
  });

  it('a volume removal does not wait for a classic build, and docker compose’s cachefrom=null is no list', async () => {
    const volume = own('build-vol');
    expect((await a.mallory.api.request('POST', '/volumes/create', { body: { Name: volume } })).status).toBe(
      201,
    );
    let built = false;
    const running = build(a.mallory.api, 'cachefrom=null&buildargs=null', 'FROM busybox\nRUN sleep 3\n').then(
      (b) => {
        built = true;
        return b;
      },
    );
    await new Promise((r) => setTimeout(r, 1000));
    const removed = await a.mallory.api.request('DELETE', `/volumes/${volume}`);
    expect(removed.status, removed.text).toBe(204);
    expect(built, 'the volume was removed while the build ran').toBe(false);
    const b = await running;
    expect(b.id, b.reply.text).toBeDefined();
    await a.engine.request('DELETE', `/images/${b.id}`);
  });
});
