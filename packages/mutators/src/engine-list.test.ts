import { DockhandError, Upstream } from '@dockhand/core';
import { Pool } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ENGINE_SOCKET } from '../test/attacks/harness.ts';
import { engineList } from './engine-list.ts';

describe('engineList, on the real engine', () => {
  const pool = new Pool('http://docker', { socketPath: ENGINE_SOCKET });
  const upstream = new Upstream(pool);
  afterAll(() => pool.close());

  it("gives the engine's list, with its query", async () => {
    const images = await engineList<{ RepoTags?: string[] }[]>(upstream, '/images/json', {
      filters: JSON.stringify({ reference: ['busybox:latest'] }),
    });
    expect(images.map((i) => i.RepoTags)).toEqual([expect.arrayContaining(['busybox:latest'])]);
  });

  it('refuses with DOCKHAND_ENGINE_LOOKUP_FAILED (502) when the engine answers anything but a list, and frees the connection', async () => {
    for (let i = 0; i < 3; i++) {
      const err = await engineList(upstream, '/containers/json', { filters: '{"nosuchfilter":["x"]}' }).catch(
        (e: unknown) => e,
      );
      expect(DockhandError.is(err)).toBe(true);
      expect(err).toMatchObject({ code: 'DOCKHAND_ENGINE_LOOKUP_FAILED', status: 502 });
    }
    // the pool still answers: every refused reply was read
    expect(await engineList<unknown[]>(upstream, '/networks')).toEqual(expect.any(Array));
  });
});
