import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { createForwarder } from '../src/index.ts';
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

// Restarts the shared engine: runs in pnpm test's second pass only.
const t = testLabel('restart');
afterAll(() => t.cleanup(), 120_000);

/** LISTEN sockets on 127.0.0.1:<port> in this namespace, from /proc/net/tcp. */
async function listeners(port: number): Promise<number> {
  const hex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const text = await readFile('/proc/net/tcp', 'utf8');
  return text.split('\n').filter((l) => l.includes(` ${hex} `) && l.trim().split(/\s+/)[3] === '0A').length;
}

describe('the engine restarts under the forwarder', () => {
  test('recovers within 10 s of the engine being back, with no duplicate and no missing listener', async () => {
    const { logger, lines } = captureLogger();
    await using fwd = await createForwarder({
      dockerHost: 'unix:///var/run/docker.sock',
      labels: [t.label],
      logger,
      resyncIntervalMs: 0, // prove the reconnect re-syncs, not the safety net
    });
    const kept = await freePort();
    const gone = await freePort();
    await runContainer(t.label, '--restart', 'always', '-p', `127.0.0.2:${kept}:80`, ...httpd('kept'));
    await runContainer(t.label, '-p', `127.0.0.2:${gone}:80`, ...httpd('gone'));
    await waitFor(
      async () => (await httpGet(kept)) === 'kept' && (await httpGet(gone)) === 'gone',
      10_000,
      'both ports',
    );

    await promisify(execFile)('/work/shared/ci/provision-docker', ['restart'], { timeout: 120_000 });
    const back = Date.now();
    await docker('version'); // the engine answers

    await waitFor(
      async () =>
        (await httpGet(kept)) === 'kept' &&
        !fwd.ports().some((p) => p.port === gone) &&
        fwd.ports().filter((p) => p.port === kept).length === 1,
      10_000,
      'the forwarder to recover',
    );
    expect(Date.now() - back).toBeLessThan(10_000);
    expect(await listeners(kept)).toBe(1);
    expect(await listeners(gone)).toBe(0);
    expect(
      fwd
        .ports()
        .map((p) => p.port)
        .sort(),
    ).toEqual([kept]);
    expect(lines.some((l) => String(l.msg).includes('reconnected to the engine'))).toBe(true);
  }, 180_000);
});
