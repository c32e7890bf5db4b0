// An image list's `label` and `reference` filters are evaluated by the proxy, over the images the tenant sees (found
// by review, stop 25: the engine evaluated them over every image, and its answer told which of other tenants'
// names existed). Here the proxy's answers are compared with the real engine's, filter by filter, on images the
// tenant sees: the tenant must get what the engine gives for them. And the victim's images leave no trace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arena, arena, refused, tappedProxy } from './attacks/harness.ts';

let a: Arena;
/** The tenant's images by a short name, and busybox (shared). */
const ids: Record<string, string> = {};
let victimImage: string;
const q = (filters: Record<string, unknown>) => `filters=${encodeURIComponent(JSON.stringify(filters))}`;

beforeAll(async () => {
  a = await arena();
  const anchor = await a.ownContainer(`${a.run}-anchor`);
  const commit = async (repo: string, tag: string, labels: Record<string, string>) => {
    const r = await a.mallory.api.request(
      'POST',
      `/commit?container=${anchor}&repo=${encodeURIComponent(repo)}&tag=${tag}`,
      { body: { Labels: labels, Cmd: ['true'] } },
    );
    expect(r.status, r.text).toBe(201);
    return r.json.Id as string;
  };
  ids.app = await commit(`${a.run}-app`, '1', { [`${a.run}.k`]: 'v1', [`${a.run}.tier`]: 'front' });
  expect((await a.mallory.api.request('POST', `/images/${ids.app}/tag?repo=${a.run}-app&tag=2`)).status).toBe(
    201,
  );
  ids.web = await commit(`${a.run}-web`, '1', { [`${a.run}.k`]: 'v2' });
  ids.tool = await commit(`${a.run}-ns/tool`, 'v1', {});
  ids.busybox = (await a.engine.request('GET', '/images/busybox:latest/json')).json.Id;
  const holder = await a.victimContainer(`${a.run}-victim-holder`, {}, false);
  victimImage = (
    await a.engine.request('POST', `/commit?container=${holder}&repo=${a.run}-secret&tag=1`, {
      body: { Labels: { ...a.victimLabels, [`${a.run}.k`]: 'hidden' } },
    })
  ).json.Id;
}, 120_000);
afterAll(async () => {
  for (const t of [
    `${a.run}-app:1`,
    `${a.run}-app:2`,
    `${a.run}-web:1`,
    `${a.run}-ns/tool:v1`,
    `${a.run}-secret:1`,
  ])
    await a?.engine.request('DELETE', `/images/${encodeURIComponent(t)}`);
  await a?.[Symbol.asyncDispose]();
}, 120_000);

/** The list's images among the test's own (and busybox), as id → names (`null` as the engine wrote it). */
async function listed(api: Arena['engine'], query: string): Promise<Record<string, unknown> | string> {
  const r = await api.request('GET', `/images/json?${query}`);
  if (r.status !== 200) return r.json?.message ?? r.text;
  const out: Record<string, unknown> = {};
  for (const img of r.json as { Id: string; RepoTags: string[] | null; RepoDigests: string[] | null }[])
    if (Object.values(ids).includes(img.Id))
      out[img.Id] = { tags: img.RepoTags?.toSorted() ?? null, digests: img.RepoDigests?.toSorted() ?? null };
  return out;
}

describe('image list filters, evaluated by the proxy, as the engine evaluates them', {
  timeout: 60_000,
}, () => {
  const patterns = (run: string) => [
    `${run}-*`,
    `${run}-app`,
    `${run}-app:1`,
    `${run}-a?p:*`,
    `${run}-[aw]*`,
    `${run}-[^a]*`,
    `${run}-ns/*`,
    `${run}-*/*`,
    '*',
    '*/*',
    'busy*',
    '*:1',
    `${run}-app:[12]`,
    `\\${run}-web:1`,
    `${run}-[`,
    '[]',
  ];

  it('reference, one pattern at a time', async () => {
    for (const p of patterns(a.run)) {
      const query = q({ reference: [p] });
      expect(await listed(a.mallory.api, query), p).toEqual(await listed(a.engine, query));
    }
  });

  it('reference, several patterns (any), in the map form too, and with other filters', async () => {
    for (const filters of [
      { reference: [`${a.run}-app:1`, `${a.run}-web*`] },
      { reference: { [`${a.run}-ns/*`]: true, 'busy*': true } },
      { reference: [`${a.run}-*`], label: [`${a.run}.k`] },
      { reference: [`${a.run}-*`], dangling: ['false'] },
      { reference: [`${a.run}-*`], before: [ids.tool] },
      { reference: [] },
    ]) {
      const query = q(filters);
      expect(await listed(a.mallory.api, query), JSON.stringify(filters)).toEqual(
        await listed(a.engine, query),
      );
    }
  });

  it('label: a key, a key and value, several (all), none that match', async () => {
    for (const label of [
      [`${a.run}.k`],
      [`${a.run}.k=v1`],
      [`${a.run}.k=v2`],
      [`${a.run}.k`, `${a.run}.tier=front`],
      [`${a.run}.k=v1`, `${a.run}.tier=back`],
      [`${a.run}.missing`],
      [],
    ]) {
      const query = q({ label });
      expect(await listed(a.mallory.api, query), label.join()).toEqual(await listed(a.engine, query));
    }
  });

  it('the legacy filter parameter of API versions before 1.41', async () => {
    for (const path of ['/v1.40/images/json?filter=', '/v1.41/images/json?filter=']) {
      const query = `${path}${encodeURIComponent(`${a.run}-app*`)}`;
      const through = await a.mallory.api.request('GET', query);
      const straight = await a.engine.request('GET', query);
      const mine = (r: typeof through) =>
        (r.json as { Id: string }[])
          .map((i) => i.Id)
          .filter((id) => Object.values(ids).includes(id))
          .sort();
      expect(mine(through), path).toEqual(mine(straight));
    }
  });
});

describe("the victim's images by label or name (found by review, stop 25)", { timeout: 60_000 }, () => {
  it('a filter that matches only hidden images answers exactly as one that matches nothing', async () => {
    for (const [hidden, missing] of [
      [{ reference: [`${a.run}-s*`] }, { reference: [`${a.run}-z*`] }],
      [{ reference: [`${a.run}-secret:1`] }, { reference: [`${a.run}-nothing:1`] }],
      [{ label: [`dockhand.tenant=${a.victim.name}`] }, { label: ['dockhand.tenant=nobody'] }],
      [{ label: [`${a.run}.k=hidden`] }, { label: [`${a.run}.k=absent`] }],
    ]) {
      const h = await a.mallory.api.request('GET', `/images/json?${q(hidden!)}`);
      const m = await a.mallory.api.request('GET', `/images/json?${q(missing!)}`);
      expect(h.status).toBe(200);
      expect(h.text, JSON.stringify(hidden)).toBe(m.text);
      expect(h.text).not.toContain(victimImage.slice(7, 19));
    }
    expect((await a.inspect('images', victimImage)).status).toBe(200);
  });

  it('the engine is never asked to pick images by a label or name the tenant sent', async () => {
    await using tapped = await tappedProxy(a.mallory);
    for (const filters of [
      { reference: [`${a.run}-s*`] },
      { label: [`dockhand.tenant=${a.victim.name}`] },
      { reference: [`${a.run}-*`], dangling: ['false'] },
    ])
      expect((await tapped.api.request('GET', `/images/json?${q(filters)}`)).status).toBe(200);
    expect((await tapped.api.request('GET', `/v1.40/images/json?filter=${a.run}-s*`)).status).toBe(200);
    const lists = tapped.seen.filter((l) => l.startsWith('GET /images/json?'));
    expect(lists.length).toBeGreaterThanOrEqual(4);
    for (const l of lists) expect(l).not.toMatch(/reference|label|filter=/);
  });

  it('a malformed pattern is refused with the daemon’s words', async () => {
    refused(
      await a.mallory.api.request('GET', `/images/json?${q({ reference: ['['] })}`),
      400,
      'syntax error in pattern',
    );
  });
});
