import { describe, expect, it } from 'vitest';
import { DockhandError } from './errors.ts';
import { buildPath, resolvePath } from './router.ts';
import { operationIds, routes } from './routes.ts';

describe('resolvePath', () => {
  it('resolves a plain path with its params', () => {
    const r = resolvePath('GET', '/containers/abc/json');
    expect(r).toMatchObject({ operation: 'ContainerInspect', params: { id: 'abc' }, apiVersion: undefined });
  });

  it('reads the version prefix', () => {
    expect(resolvePath('GET', '/v1.45/containers/json')).toMatchObject({
      operation: 'ContainerList',
      apiVersion: '1.45',
      path: '/containers/json',
    });
    expect(resolvePath('GET', '/v1.41/_ping').operation).toBe('SystemPing');
  });

  it.each([
    ['//containers/json', '/containers/json'],
    ['/containers//json', '/containers/json'],
    ['/v1.45//containers/json', '/v1.45/containers/json'],
    ['/containers/json//', '/containers/json/'],
    ['/containers/./json', '/containers/json'],
    ['/images/../containers/json', '/containers/json'],
    ['/v1.45/../containers/json', '/containers/json'],
    ['/../../containers/json', '/containers/json'],
    ['/containers/%2e%2e/_ping', '/_ping'],
  ])(
    'answers the unclean path %s with the redirect the daemon sends (%s), routing nothing',
    (raw, location) => {
      const r = resolvePath('GET', raw);
      expect(r.redirect).toBe(location);
      expect(r.operation).toBeUndefined();
    },
  );

  it.each([
    ['/%63ontainers/json', 'ContainerList', '/containers/json'],
    ['/networks/', 'NetworkList', '/networks/'],
    ['/v1.45/networks/', 'NetworkList', '/networks/'],
  ])('decodes %s to %s', (raw, op, path) => {
    const r = resolvePath('GET', raw);
    expect(r.redirect).toBeUndefined();
    expect(r.operation).toBe(op);
    expect(r.path).toBe(path);
  });

  it.each(['/containers/json/', '/volumes/', '/info/', '/v1.45/containers/abc/json/'])(
    'treats the trailing slash of %s as significant: no route, as on the daemon',
    (raw) => {
      const r = resolvePath('GET', raw);
      expect(r.redirect).toBeUndefined();
      expect(r.operation).toBeUndefined();
    },
  );

  it('decodes params the way the daemon does', () => {
    expect(resolvePath('GET', '/containers/my%2Dname/json').params).toEqual({ id: 'my-name' });
  });

  it('keeps slashes in multi-segment params (image names)', () => {
    expect(resolvePath('GET', '/images/library/busybox:latest/json')).toMatchObject({
      operation: 'ImageInspect',
      params: { name: 'library/busybox:latest' },
    });
    expect(resolvePath('DELETE', '/images/registry:5000/a/b')).toMatchObject({
      operation: 'ImageDelete',
      params: { name: 'registry:5000/a/b' },
    });
  });

  it.each([
    '/containers/a%2Fb/json',
    '/containers/a%2fb/json',
    '/containers/a%5Cb/json',
    '/containers/%252e%252e/json',
    '/containers/a%00/json',
    '/containers/a%0a/json',
    '/containers/a\\b/json',
  ])('refuses %s as ambiguous', (raw) => {
    expect(() => resolvePath('GET', raw)).toThrowError(DockhandError);
    try {
      resolvePath('GET', raw);
    } catch (err) {
      expect((err as DockhandError).status).toBe(400);
    }
  });

  it('refuses a path that matches two routes', () => {
    expect(() => resolvePath('DELETE', '/containers/x/checkpoints/y')).toThrowError(/ambiguous/);
  });

  it('refuses an invalid escape', () => {
    expect(() => resolvePath('GET', '/containers/%zz/json')).toThrowError(DockhandError);
  });

  it('gives an unknown path no route', () => {
    expect(resolvePath('GET', '/libpod/containers/json').operation).toBeUndefined();
    expect(resolvePath('GET', '/v1.45/nope').operation).toBeUndefined();
    expect(resolvePath('PATCH', '/containers/json').operation).toBeUndefined();
  });

  it('matches methods exactly', () => {
    expect(resolvePath('HEAD', '/_ping').operation).toBe('SystemPingHead');
    expect(resolvePath('POST', '/containers/abc/json').operation).toBeUndefined();
  });

  it('covers the whole table: every route resolves to itself', () => {
    for (const op of operationIds) {
      const spec = routes[op];
      const params: Record<string, string> = {};
      for (const m of spec.path.matchAll(/[:*](\w+)/g)) params[m[1]!] = `p${m[1]}`;
      const path = buildPath(spec, params);
      if (op === 'ContainerCheckpointDelete') continue; // ambiguous with ContainerDelete by design
      expect(resolvePath(spec.method, path), `${op} ${path}`).toMatchObject({ operation: op, params });
    }
    expect(operationIds.length).toBeGreaterThanOrEqual(115);
    expect(operationIds).toEqual(
      expect.arrayContaining(['Session', 'Grpc', 'SwarmInit', 'PluginPull', 'SecretCreate']),
    );
  });
});

describe('buildPath', () => {
  it('encodes params and keeps the version', () => {
    expect(buildPath(routes.ContainerInspect, { id: 'a b' }, '1.45')).toBe('/v1.45/containers/a%20b/json');
    expect(buildPath(routes.ImageTag, { name: 'library/busybox:1' })).toBe('/images/library/busybox:1/tag');
  });
});
