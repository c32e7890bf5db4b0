import { spawn } from 'node:child_process';
import { afterAll, describe, expect, test } from 'vitest';
import { createForwarder, ForwarderErrorCode } from '../src/index.ts';
import {
  captureLogger,
  docker,
  freePort,
  httpd,
  httpGet,
  runContainer,
  testLabel,
  waitFor,
} from './docker.ts';

const t = testLabel('conflict');
afterAll(() => t.cleanup(), 60_000);

const conflicts = (lines: Record<string, unknown>[], port: number) =>
  lines.filter((l) => l.code === ForwarderErrorCode.PortConflict && l.port === port);

describe('port conflicts', () => {
  test('a port the IDE already holds is reported once, naming both owners, and taken over when freed', async () => {
    const port = await freePort();
    // "The IDE": another process in this namespace listening on 127.0.0.1:<port>.
    const ide = spawn(process.execPath, [
      '-e',
      `require('net').createServer(s=>s.end('ide')).listen(${port},'127.0.0.1',()=>console.log('up'))`,
    ]);
    await new Promise((r) => ide.stdout.once('data', r));
    try {
      const { logger, lines } = captureLogger();
      await using fwd = await createForwarder({
        dockerHost: 'unix:///var/run/docker.sock',
        labels: [t.label],
        logger,
        retryIntervalMs: 200,
      });
      await runContainer(
        t.label,
        '--name',
        `${t.value}-web`,
        '-p',
        `127.0.0.2:${port}:80`,
        ...httpd('hello-web'),
      );
      await waitFor(() => conflicts(lines, port).length > 0, 10_000, 'the conflict report');
      // ::1 was free, so it is forwarded meanwhile.
      expect(await httpGet(port, '::1')).toBe('hello-web');
      await new Promise((r) => setTimeout(r, 1500)); // several retries
      const reported = conflicts(lines, port);
      expect(reported).toHaveLength(1);
      expect(reported[0]).toMatchObject({ container: `${t.value}-web`, address: '127.0.0.1' });
      expect(String(reported[0]!.holder)).toContain(`pid ${ide.pid}`);
      expect(String(reported[0]!.msg)).toContain(`${t.value}-web`);
      expect(fwd.ports().find((p) => p.port === port)?.conflicts[0]).toContain(`pid ${ide.pid}`);

      ide.kill();
      await waitFor(async () => (await httpGet(port)) === 'hello-web', 5000, 'the port after the IDE let go');
      expect(fwd.ports().find((p) => p.port === port)?.conflicts).toEqual([]);
    } finally {
      ide.kill();
    }
  }, 60_000);

  test('two containers publishing one host port on different host IPs: reported once, handed over when the first goes', async () => {
    const { logger, lines } = captureLogger();
    await using fwd = await createForwarder({
      dockerHost: 'unix:///var/run/docker.sock',
      labels: [t.label],
      logger,
    });
    const port = await freePort();
    const first = await runContainer(
      t.label,
      '--name',
      `${t.value}-one`,
      '-p',
      `127.0.0.2:${port}:80`,
      ...httpd('one'),
    );
    await waitFor(async () => (await httpGet(port)) === 'one', 10_000, 'the first container');
    await runContainer(t.label, '--name', `${t.value}-two`, '-p', `127.0.0.3:${port}:80`, ...httpd('two'));
    await waitFor(() => conflicts(lines, port).length > 0, 10_000, 'the conflict report');
    await fwd.resync(); // a re-sync must not report it again
    await new Promise((r) => setTimeout(r, 500));
    const reported = conflicts(lines, port);
    expect(reported).toHaveLength(1);
    expect(reported[0]!.msg).toContain(`${t.value}-one`);
    expect(reported[0]!.msg).toContain(`${t.value}-two`);
    expect(await httpGet(port)).toBe('one');
    expect(fwd.ports().find((p) => p.port === port)?.conflicts).toEqual([`container ${t.value}-two`]);

    await docker('rm', '-f', first);
    await waitFor(async () => (await httpGet(port)) === 'two', 5000, 'the hand-over to the second container');
    expect(fwd.ports().filter((p) => p.port === port)).toHaveLength(1);
  }, 60_000);
});
