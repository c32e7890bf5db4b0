import type { Upstream } from '@dockhand/core';

const cache = new WeakMap<Upstream, Promise<string>>();

/**
 * The engine's own API version (from `/version`), asked once per upstream.
 *
 * @param upstream - the engine
 * @returns e.g. `'1.45'`
 * @example
 * ```ts
 * if (versionAtLeast(await engineApiVersion(ctx.upstream), '1.45')) { ... }
 * ```
 */
export function engineApiVersion(upstream: Upstream): Promise<string> {
  let v = cache.get(upstream);
  if (!v) {
    v = upstream.request({ path: '/version' }).then(async (r) => {
      const body = await r.json<{ ApiVersion?: string }>();
      return body.ApiVersion ?? '1.41';
    });
    v.catch(() => cache.delete(upstream));
    cache.set(upstream, v);
  }
  return v;
}

/**
 * Compares two API versions.
 *
 * @param version - e.g. `'1.45'`
 * @param min - e.g. `'1.41'`
 * @returns whether `version >= min`
 * @example
 * ```ts
 * versionAtLeast('1.45', '1.41'); // true
 * ```
 */
export function versionAtLeast(version: string, min: string): boolean {
  const a = version.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}
