import { describe, expect, test } from 'vitest';
import type { ContainerInspect } from './engine.ts';
import { publishedPorts, resolveTarget } from './target.ts';

const inspect = (ports: ContainerInspect['NetworkSettings']['Ports']): ContainerInspect => ({
  Id: 'c1',
  Name: '/web',
  State: { Running: true, Paused: false },
  Config: { Labels: {} },
  NetworkSettings: { Ports: ports, Networks: { far: { IPAddress: '10.254.254.2', IPPrefixLen: 24 } } },
});

describe('publishedPorts', () => {
  test('counts the 0.0.0.0 and :: bindings of one port once, skips unpublished ports', () => {
    const ports = publishedPorts(
      inspect({
        '80/tcp': [
          { HostIp: '0.0.0.0', HostPort: '32768' },
          { HostIp: '::', HostPort: '32768' },
        ],
        '53/udp': [{ HostIp: '127.0.0.2', HostPort: '5353' }],
        '9000/tcp': null,
      }),
    );
    expect(ports).toEqual([
      {
        proto: 'tcp',
        containerPort: 80,
        hostIp: '0.0.0.0',
        hostPort: 32768,
        addresses: ['127.0.0.1', '::1'],
        publishedPort: 32768,
      },
      {
        proto: 'udp',
        containerPort: 53,
        hostIp: '127.0.0.2',
        hostPort: 5353,
        addresses: ['127.0.0.1', '::1'],
        publishedPort: 5353,
      },
    ]);
  });

  test('forwards both ports when the engine split the families, both to the IPv4 port', () => {
    // seen in CI once the engine's IPv4 and IPv6 port allocators were out of step: testcontainers resolved
    // localhost to ::1 first and used the IPv6 binding's port
    const ports = publishedPorts(
      inspect({
        '80/tcp': [
          { HostIp: '0.0.0.0', HostPort: '32779' },
          { HostIp: '::', HostPort: '32778' },
        ],
        '81/tcp': [{ HostIp: '::', HostPort: '40001' }],
      }),
    );
    expect(ports).toEqual([
      {
        proto: 'tcp',
        containerPort: 80,
        hostIp: '0.0.0.0',
        hostPort: 32779,
        addresses: ['127.0.0.1', '::1'],
        publishedPort: 32779,
      },
      {
        proto: 'tcp',
        containerPort: 80,
        hostIp: '0.0.0.0',
        hostPort: 32778,
        addresses: ['127.0.0.1', '::1'],
        publishedPort: 32779,
      },
      {
        proto: 'tcp',
        containerPort: 81,
        hostIp: '::',
        hostPort: 40001,
        addresses: ['127.0.0.1', '::1'],
        publishedPort: 40001,
      },
    ]);
  });
});

describe('resolveTarget', () => {
  const info = inspect({ '80/tcp': [{ HostIp: '127.0.0.2', HostPort: '8080' }] });
  const [port] = publishedPorts(info);
  test('with no shared network, auto uses the published address and network finds no route', () => {
    expect(resolveTarget(info, port!, 'auto', undefined)).toEqual({
      host: '127.0.0.2',
      port: 8080,
      via: 'published',
    });
    expect(resolveTarget(info, port!, 'network', undefined)).toBeUndefined();
  });
  test('a port published on the loopback the forwarder listens on has no published route there', () => {
    const own = inspect({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }] });
    const [p] = publishedPorts(own);
    expect(resolveTarget(own, p!, 'auto', undefined, 8080)).toBeUndefined();
    // elsewhere (a port offset), or through a configured host, it is a route
    expect(resolveTarget(own, p!, 'auto', undefined, 18080)).toEqual({
      host: '127.0.0.1',
      port: 8080,
      via: 'published',
    });
    expect(resolveTarget(own, p!, 'published', '192.0.2.9', 8080)?.host).toBe('192.0.2.9');
  });
  test('a configured published host wins', () => {
    expect(resolveTarget(info, port!, 'published', '192.0.2.9')).toEqual({
      host: '192.0.2.9',
      port: 8080,
      via: 'published',
    });
  });
});
