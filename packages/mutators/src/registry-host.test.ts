import { describe, expect, it } from 'vitest';
import { isHostLocal, registryAddressHost, registryOf } from './registry-host.ts';

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
