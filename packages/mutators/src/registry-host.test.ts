import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  hostRegistryCheck,
  isHostLocal,
  registryAddressHost,
  registryOf,
  resolvesHostLocal,
} from './registry-host.ts';

describe('registryOf', () => {
  it.each([
    ['busybox', undefined],
    ['busybox:latest', undefined],
    ['library/busybox', undefined],
    ['team/app:1', undefined],
    ['localhost/app', 'localhost'],
    ['localhost:5000/app', 'localhost:5000'],
    ['127.0.0.1:5000/team/app:1', '127.0.0.1:5000'],
    ['[::1]:5000/app', '[::1]:5000'],
    ['registry.example/app@sha256:abc', 'registry.example'],
    ['LOCALHOST/app', 'LOCALHOST'],
    ['Team/app', 'Team'],
  ])('%s → %s', (ref, registry) => {
    expect(registryOf(ref)).toBe(registry);
  });
});

describe('registryAddressHost', () => {
  it.each([
    ['http://127.0.0.1:5000', '127.0.0.1:5000'],
    ['https://index.docker.io/v1/', 'index.docker.io'],
    ['localhost:5000', 'localhost:5000'],
    [' HTTP://[::1]:5000/v2/?x ', '[::1]:5000'],
    ['x@127.0.0.1:5000', '127.0.0.1:5000'],
    ['https://user:pw@localhost:5000/v2/', 'localhost:5000'],
  ])('%s → %s', (address, host) => {
    expect(registryAddressHost(address)).toBe(host);
  });
});

describe('isHostLocal', () => {
  it.each([
    'localhost',
    'localhost:5000',
    'LocalHost:5000',
    'registry.localhost:5000',
    'localhost.',
    '127.0.0.1',
    '127.0.0.1:5000',
    '127.255.255.254:1',
    '0.0.0.0:5000',
    '169.254.169.254',
    '[::1]:5000',
    '::1',
    '[::]:5000',
    '[fe80::1]:5000',
    '[::ffff:127.0.0.1]:5000',
  ])('%s is the host', (host) => {
    expect(isHostLocal(host)).toBe(true);
  });

  it.each([
    'registry.example:5000',
    'index.docker.io',
    '10.0.0.5:5000',
    '172.17.0.1:5000',
    '192.168.1.10',
    '[2001:db8::1]:5000',
    'localhost.example',
    '128.0.0.1',
  ])('%s is not', (host) => {
    expect(isHostLocal(host)).toBe(false);
  });
});

describe('a name Docker reads as a registry, at the engine host', () => {
  it('LOCALHOST/app is localhost', () => {
    expect(isHostLocal(registryOf('LOCALHOST/app')!)).toBe(true);
  });
});

describe('resolvesHostLocal', () => {
  const names: Record<string, string[]> = {
    'points-home.example': ['203.0.113.7', '127.0.0.1'],
    'six.example': ['::1'],
    'mapped.example': ['::ffff:127.0.0.1'],
    'elsewhere.example': ['203.0.113.7', '2001:db8::1'],
  };
  const resolve = async (name: string) => {
    const found = names[name];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return found;
  };
  it.each([
    ['points-home.example:5000', true],
    ['SIX.example.', true],
    ['mapped.example', true],
    ['elsewhere.example:5000', false],
    ['unknown.example:5000', false],
    ['127.0.0.1:5000', true],
    ['[::1]:5000', true],
    ['203.0.113.7:5000', false],
  ])('%s → %s', async (host, local) => {
    expect(await resolvesHostLocal(host, resolve)).toBe(local);
  });

  it("resolves through the system's resolver: this machine's own name", async () => {
    // the machine's name resolves through /etc/hosts; on the machines this runs on, to a loopback address
    const { lookup } = await import('node:dns/promises');
    const addresses = (await lookup(hostname(), { all: true })).map((a) => a.address);
    expect(await resolvesHostLocal(`${hostname()}:5000`)).toBe(addresses.some((a) => isHostLocal(a)));
  });
});

describe('hostRegistryCheck', () => {
  it("refuses a registry on the engine's host, unless it is one of localRegistries", async () => {
    await expect(hostRegistryCheck()(['127.0.0.1:5000'])).rejects.toThrow(/is on the engine's host/);
    await expect(
      hostRegistryCheck({ localRegistries: ['127.0.0.1:5000'] })(['127.0.0.1:5000']),
    ).resolves.toBe(undefined);
    await expect(hostRegistryCheck()([undefined, 'docker.io', '10.1.2.3:5000'])).resolves.toBe(undefined);
  });

  it('with a registries list, refuses every registry not on it; Docker Hub is docker.io under each of its names', async () => {
    const check = hostRegistryCheck({ registries: ['docker.io', '*.example.com', '10.1.2.3:5000'] });
    for (const ok of [
      undefined,
      'docker.io',
      'index.docker.io',
      'Registry-1.Docker.io',
      'ghcr.example.com',
      '10.1.2.3:5000',
    ])
      await expect(check([ok]), String(ok)).resolves.toBe(undefined);
    for (const no of ['ghcr.io', 'example.com', '10.1.2.3:5001', 'docker.io.evil.test'])
      await expect(check([no]), no).rejects.toThrow(
        `the registry ${no} is not one this workshop uses (allowed: docker.io, *.example.com, 10.1.2.3:5000)`,
      );
    await expect(hostRegistryCheck({ registries: ['ghcr.io'] })([undefined])).rejects.toThrow(
      /the registry docker\.io is not one/,
    );
  });

  it("still refuses a listed registry on the engine's host, unless it is one of localRegistries too", async () => {
    await expect(hostRegistryCheck({ registries: ['127.0.0.1:*'] })(['127.0.0.1:5000'])).rejects.toThrow(
      /is on the engine's host/,
    );
    await expect(
      hostRegistryCheck({ registries: ['127.0.0.1:*'], localRegistries: ['127.0.0.1:5000'] })([
        '127.0.0.1:5000',
      ]),
    ).resolves.toBe(undefined);
    await expect(
      hostRegistryCheck({ registries: ['docker.io'], localRegistries: ['localhost:5000'] })([
        'localhost:5000',
      ]),
    ).rejects.toThrow(/not one this workshop uses/);
  });
});
