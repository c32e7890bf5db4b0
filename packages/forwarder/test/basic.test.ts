import { createSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import { afterAll, describe, expect, test } from 'vitest';
import { createForwarder, serveStatus } from '../src/index.ts';
import {
  captureLogger,
  docker,
  freePort,
  hostPort,
  httpd,
  httpGet,
  runContainer,
  testLabel,
  waitFor,
} from './docker.ts';

// The forwarder runs in this process, in the host's namespace. Containers publish on 127.0.0.2 so that
// 127.0.0.1:<port> and [::1]:<port> are free for the forwarder: what answers there is really the forwarder,
// not docker-proxy.
const t = testLabel('basic');
afterAll(() => t.cleanup(), 60_000);

function refused(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host, port });
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('forwarding published ports to localhost', () => {
  test('a fixed port answers on 127.0.0.1 and ::1, stops within a second of docker stop, answers after docker start', async () => {
    const { logger, lines } = captureLogger();
    await using fwd = await createForwarder({
      dockerHost: 'unix:///var/run/docker.sock',
      labels: [t.label],
      logger,
    });
    const port = await freePort();
    const id = await runContainer(t.label, '-p', `127.0.0.2:${port}:80`, ...httpd('hello-fixed'));
    await waitFor(async () => (await httpGet(port)) === 'hello-fixed', 10_000, 'the forwarded port');
    expect(await httpGet(port, '::1')).toBe('hello-fixed');
    const entry = fwd.ports().find((p) => p.port === port);
    expect(entry).toMatchObject({ proto: 'tcp', hostPort: port, container: { id } });
    expect(entry?.addresses.sort()).toEqual(['127.0.0.1', '::1']);
    expect(lines.some((l) => String(l.msg).startsWith(`port opened: localhost:${port}/tcp`))).toBe(true);

    await docker('stop', '-t', '1', id);
    const elapsed = await waitFor(() => refused(port), 1000, 'the port to close after docker stop');
    expect(elapsed).toBeLessThan(1000);
    expect(await refused(port, '::1')).toBe(true);
    expect(lines.some((l) => String(l.msg).startsWith(`port closed: localhost:${port}/tcp`))).toBe(true);

    await docker('start', id);
    await waitFor(async () => (await httpGet(port)) === 'hello-fixed', 10_000, 'the port after docker start');

    await docker('restart', '-t', '1', id);
    await waitFor(
      async () => (await httpGet(port)) === 'hello-fixed',
      10_000,
      'the port after docker restart',
    );
    expect(fwd.ports().filter((p) => p.port === port)).toHaveLength(1);

    await docker('pause', id);
    await waitFor(() => refused(port), 2000, 'the port to close on pause');
    await docker('unpause', id);
    await waitFor(async () => (await httpGet(port)) === 'hello-fixed', 10_000, 'the port after unpause');
  }, 60_000);

  test('random ports (-p 0:80 style) and containers started before the forwarder', async () => {
    const before = await runContainer(t.label, '-p', '127.0.0.2::80', ...httpd('hello-before'));
    const beforePort = await hostPort(before, '80/tcp');
    // the container's server is up (straight on its published address) before the forwarder starts: what is checked
    // below is the forwarder's sync at start, not how fast busybox's httpd starts on a loaded machine (CI, stop 25)
    await waitFor(
      async () => (await httpGet(beforePort, '127.0.0.2').catch(() => '')) === 'hello-before',
      10_000,
      'the container before the forwarder',
    );
    await using fwd = await createForwarder({ dockerHost: 'unix:///var/run/docker.sock', labels: [t.label] });
    // Synced at start: no waiting needed.
    expect(await httpGet(beforePort)).toBe('hello-before');

    const after = await runContainer(t.label, '-p', '127.0.0.2::80', ...httpd('hello-random'));
    const afterPort = await hostPort(after, '80/tcp');
    expect(afterPort).not.toBe(80);
    await waitFor(async () => (await httpGet(afterPort)) === 'hello-random', 10_000, 'the random port');
    expect(fwd.ports().find((p) => p.port === afterPort)?.container.id).toBe(after);

    await docker('rm', '-f', after);
    await waitFor(() => refused(afterPort), 2000, 'the random port to close after docker rm -f');
  }, 60_000);

  test('published mode, port offset, denylist and the status endpoint', async () => {
    const port = await freePort();
    const denied = await freePort();
    await runContainer(
      t.label,
      '-p',
      `127.0.0.2:${port}:80`,
      '-p',
      `127.0.0.2:${denied}:81`,
      ...httpd('hello-published'),
    );
    const offset = 7;
    await using fwd = await createForwarder({
      dockerHost: 'unix:///var/run/docker.sock',
      labels: [t.label],
      target: 'published',
      portOffset: offset,
      deny: [denied],
    });
    await waitFor(() => fwd.ports().some((p) => p.hostPort === port), 10_000, 'the port');
    expect(fwd.ports().find((p) => p.hostPort === port)).toMatchObject({
      port: port + offset,
      target: { host: '127.0.0.2', port, via: 'published' },
    });
    expect(fwd.ports().some((p) => p.hostPort === denied)).toBe(false);
    expect(await httpGet(port + offset)).toBe('hello-published');

    // A connection held open shows up in the status endpoint.
    await using status = await serveStatus(fwd);
    const held = tcpConnect({ host: '127.0.0.1', port: port + offset });
    await new Promise((r) => held.on('connect', r));
    await waitFor(
      () => fwd.ports().find((p) => p.hostPort === port)?.connections === 1,
      2000,
      'the connection count',
    );
    const listed = (await (await fetch(status.url)).json()) as {
      port: number;
      connections: number;
      container: { name: string };
    }[];
    const mine = listed.find((p) => p.port === port + offset);
    expect(mine?.connections).toBe(1);
    expect(mine?.container.name).toMatch(/./);
    held.destroy();
  }, 60_000);

  test('UDP published ports are forwarded, and idle sessions are closed', async () => {
    await using fwd = await createForwarder({
      dockerHost: 'unix:///var/run/docker.sock',
      labels: [t.label],
      udpIdleMs: 3000,
    });
    const port = await freePort();
    await runContainer(
      t.label,
      '-p',
      `127.0.0.2:${port}:9/udp`,
      'node:24-bookworm-slim',
      'node',
      '-e',
      "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(Buffer.concat([Buffer.from('echo:'),m]),r.port,r.address));s.bind(9)",
    );
    await waitFor(
      () => fwd.ports().some((p) => p.port === port && p.proto === 'udp'),
      10_000,
      'the UDP port',
    );
    for (const host of ['127.0.0.1', '::1']) {
      const sock = createSocket(host === '::1' ? 'udp6' : 'udp4');
      try {
        const reply = await waitFor(
          () =>
            new Promise<boolean>((resolve) => {
              const timer = setTimeout(() => resolve(false), 300);
              sock.once('message', (m) => {
                clearTimeout(timer);
                resolve(m.toString() === `echo:ping-${host}`);
              });
              sock.send(`ping-${host}`, port, host);
            }),
          10_000,
          `a UDP reply on ${host}`,
        );
        expect(reply).toBeGreaterThanOrEqual(0);
      } finally {
        sock.close();
      }
    }
    // one session per client address, each closed once no datagram passed for udpIdleMs
    const sessions = () => fwd.ports().find((p) => p.port === port && p.proto === 'udp')?.connections;
    expect(sessions()).toBe(2);
    const idle = await waitFor(() => sessions() === 0, 10_000, 'the idle UDP sessions to close');
    expect(idle).toBeGreaterThan(1000);
  }, 60_000);
});
