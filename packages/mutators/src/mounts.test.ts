import { describe, expect, it } from 'vitest';
import { cleanHostPath, parseBind, readMounts, under, writeMounts } from './mounts.ts';

describe('parseBind', () => {
  it('parses source:target', () => {
    expect(parseBind('/home/coder/project/dev:/data')).toEqual({
      from: 'Binds',
      type: 'bind',
      source: '/home/coder/project/dev',
      target: '/data',
      readOnly: false,
      options: [],
    });
  });

  it('reads ro and keeps the other options apart', () => {
    expect(parseBind('/srv:/srv:ro,z,rslave')).toMatchObject({ readOnly: true, options: ['z', 'rslave'] });
    expect(parseBind('/srv:/srv:rw,nocopy')).toMatchObject({ readOnly: false, options: ['nocopy'] });
  });

  it('reads a source that is not absolute as a named volume', () => {
    expect(parseBind('data:/var/lib/data')).toMatchObject({
      type: 'volume',
      source: 'data',
      target: '/var/lib/data',
    });
  });

  it('reads a lone target as an anonymous volume', () => {
    expect(parseBind('/cache')).toEqual({
      from: 'Binds',
      type: 'volume',
      source: '',
      target: '/cache',
      readOnly: false,
      options: [],
    });
  });

  it('refuses more than three parts', () => {
    expect(() => parseBind('/a:/b:ro:extra')).toThrowError(
      expect.objectContaining({
        code: 'DOCKHAND_MOUNT_REFUSED',
        status: 403,
        message: "invalid volume specification: '/a:/b:ro:extra'",
      }),
    );
  });
});

describe('cleanHostPath', () => {
  it('returns a plain absolute path unchanged, less a trailing slash', () => {
    expect(cleanHostPath('/home/coder/project/dev/db')).toBe('/home/coder/project/dev/db');
    expect(cleanHostPath('/home/coder/project/')).toBe('/home/coder/project');
    expect(cleanHostPath('/')).toBe('/');
  });

  it('refuses a relative path', () => {
    expect(() => cleanHostPath('dev/db')).toThrowError("mount source 'dev/db' is not an absolute path");
  });

  it.each([
    ['/home/coder/project/../../../etc', '/etc'],
    ['/home/coder/project/..', '/home/coder'],
    ['/home/coder/./project', '/home/coder/project'],
    ['/home/coder/project/.', '/home/coder/project'],
    ['/home//coder', '/home/coder'],
    ['//home/coder/project/sub/../shared/', '/home/coder/project/shared'],
    ['/..', '/'],
  ])('cleans %j as the engine does, to %j', (p, clean) => {
    expect(cleanHostPath(p)).toBe(clean);
  });

  it.each(['/home/coder\\project', '/home/coder\0/x'])('refuses %j', (p) => {
    expect(() => cleanHostPath(p)).toThrowError(
      expect.objectContaining({
        code: 'DOCKHAND_MOUNT_REFUSED',
        message: expect.stringContaining('is not a plain path'),
      }),
    );
  });

  it('accepts names that merely contain dots', () => {
    expect(cleanHostPath('/home/coder/project/..hidden/.env')).toBe('/home/coder/project/..hidden/.env');
    expect(cleanHostPath('/home/coder/project/a..b')).toBe('/home/coder/project/a..b');
  });
});

describe('under', () => {
  it('gives the path below the directory', () => {
    expect(under('/home/coder/project/dev/db', '/home/coder/project')).toBe('dev/db');
    expect(under('/home/coder/project/dev/db', '/home/coder/project/')).toBe('dev/db');
  });

  it("gives '' for the directory itself", () => {
    expect(under('/home/coder/project', '/home/coder/project')).toBe('');
  });

  it('gives undefined outside, including for a sibling sharing the prefix', () => {
    expect(under('/home/coder/project2/x', '/home/coder/project')).toBeUndefined();
    expect(under('/home/coder', '/home/coder/project')).toBeUndefined();
    expect(under('/etc', '/home/coder/project')).toBeUndefined();
  });
});

describe('readMounts and writeMounts', () => {
  it('reads Binds first, then Mounts of any spelling', () => {
    const mounts = readMounts({
      binds: ['/a:/b:ro'],
      mounts: [
        {
          type: 'Volume',
          source: 'v',
          target: '/v',
          readonly: true,
          BindOptions: { Propagation: 'rshared' },
        },
      ],
    });
    expect(mounts.map((m) => [m.from, m.type, m.source, m.target, m.readOnly, m.options])).toEqual([
      ['Binds', 'bind', '/a', '/b', true, []],
      ['Mounts', 'volume', 'v', '/v', true, ['rshared']],
    ]);
  });

  it('refuses Binds or Mounts that are not lists, and Mounts entries that are not objects', () => {
    expect(() => readMounts({ Binds: '/a:/b' })).toThrowError('Binds must be a list');
    expect(() => readMounts({ Mounts: {} })).toThrowError('Mounts must be a list');
    expect(() => readMounts({ Mounts: ['x'] })).toThrowError('each of Mounts must be an object');
  });

  it('writes under canonical names only, leaving out empty lists', () => {
    const hc: Record<string, unknown> = { binds: ['/x:/y'], MOUNTS: [], Privileged: false };
    writeMounts(hc, [], [{ Type: 'volume', Source: 'p', Target: '/p' }]);
    expect(hc).toEqual({ Privileged: false, Mounts: [{ Type: 'volume', Source: 'p', Target: '/p' }] });
  });
});
