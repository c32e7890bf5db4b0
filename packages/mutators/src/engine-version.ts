import type { Context, Upstream } from '@dockhand/core';
import { refuse } from './errors.ts';
import { versionAtLeast } from './version-compare.ts';

const cache = new WeakMap<Upstream, Promise<string>>();

/**
 * The engine's own API version (from `/version`), asked once per upstream. An answer that is not the engine's
 * version is not kept: the next caller asks again (found by review, stop 26: one 500 made the proxy take the
 * engine for API 1.41 for good, and refuse what that engine cannot do safely).
 *
 * @param upstream - the engine
 * @returns e.g. `'1.45'`
 * @throws {@link @dockhand/core!DockhandError} 502 `DOCKHAND_ENGINE_LOOKUP_FAILED` when the engine's answer is
 *   not its version
 * @example
 * ```ts
 * if (versionAtLeast(await engineApiVersion(ctx.upstream), '1.45')) { ... }
 * ```
 */
export function engineApiVersion(upstream: Upstream): Promise<string> {
  let v = cache.get(upstream);
  if (!v) {
    v = upstream.request({ path: '/version' }).then(async (r) => {
      const text = await r.text();
      let version: unknown;
      try {
        version = (JSON.parse(text) as { ApiVersion?: unknown } | null)?.ApiVersion;
      } catch {}
      if (r.status !== 200 || typeof version !== 'string' || !/^\d+\.\d+$/.test(version))
        throw refuse(
          'DOCKHAND_ENGINE_LOOKUP_FAILED',
          `the engine's API version cannot be read (HTTP ${r.status})`,
        );
      return version;
    });
    v.catch(() => cache.delete(upstream));
    cache.set(upstream, v);
  }
  return v;
}

/**
 * Whether the engine serves the API version the request's path names (a path without one: yes). A middleware that
 * answers a request itself leaves one the engine does not serve to the engine, which refuses it in its own words
 * (found by reviews, stops 27 and 28: a `/v1.99/` prune and stats were answered).
 *
 * @param ctx - the request
 * @returns true when the engine would take the request's version
 * @throws {@link @dockhand/core!DockhandError} 502 `DOCKHAND_ENGINE_LOOKUP_FAILED` when the engine's version cannot
 *   be read
 * @example
 * ```ts
 * if (!(await servesRequestVersion(ctx))) return next();
 * ```
 */
export async function servesRequestVersion(ctx: Context): Promise<boolean> {
  return ctx.apiVersion === undefined || versionAtLeast(await engineApiVersion(ctx.upstream), ctx.apiVersion);
}

export { versionAtLeast };
