import { createHash, randomBytes } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { afterAll, describe, expect, test } from 'vitest';
import { createForwarder } from '../src/index.ts';
import { freePort, openFds, runContainer, testLabel, waitFor } from './docker.ts';

const t = testLabel('load');
afterAll(() => t.cleanup(), 60_000);

const ECHO =
  "require('net').createServer({allowHalfOpen:true},s=>{s.on('error',()=>{});s.pipe(s)}).listen(7,()=>console.log('up'))";

/** Sends `total` bytes (chunks of `chunk`, each stamped with its index), half-closes, hashes what comes back. */
function echoThrough(
  port: number,
  total: number,
  chunk: Buffer,
): Promise<{ sent: string; received: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let bytes = 0;
    let written = 0;
    let index = 0;
    s.on('error', reject);
    s.on('data', (d) => {
      bytes += d.length;
      received.update(d);
    });
    s.on('end', () => resolve({ sent: sent.digest('hex'), received: received.digest('hex'), bytes }));
    const pump = () => {
      while (written < total) {
        const piece = Buffer.from(chunk.subarray(0, Math.min(chunk.length, total - written)));
        piece.writeUInt32BE(index++ >>> 0, 0);
        sent.update(piece);
        written += piece.length;
        if (!s.write(piece)) {
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    s.on('connect', pump);
  });
}

describe('load through one forwarded port', () => {
  test('1,000 concurrent connections and 1 GiB arrive byte-exact, and no socket is left open', async () => {
    await using fwd = await createForwarder({ dockerHost: 'unix:///var/run/docker.sock', labels: [t.label] });
    const port = await freePort();
    await runContainer(t.label, '-p', `127.0.0.2:${port}:7`, 'node:24-bookworm-slim', 'node', '-e', ECHO);
    await waitFor(() => fwd.ports().some((p) => p.port === port), 10_000, 'the port');
    // the echo server is up when a round trip works
    await waitFor(
      async () => (await echoThrough(port, 10, randomBytes(10))).bytes === 10,
      10_000,
      'the echo server',
    );
    await waitFor(() => fwd.ports().find((p) => p.port === port)?.connections === 0, 2000, 'idle');
    const fdsBefore = await openFds();

    const small = randomBytes(16 * 1024);
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => echoThrough(port, 48 * 1024, small)),
    );
    for (const r of results) {
      expect(r.bytes).toBe(48 * 1024);
      expect(r.received).toBe(r.sent);
    }

    const big = await echoThrough(port, 1024 ** 3, randomBytes(1024 * 1024));
    expect(big.bytes).toBe(1024 ** 3);
    expect(big.received).toBe(big.sent);

    await waitFor(
      () => fwd.ports().find((p) => p.port === port)?.connections === 0,
      5000,
      'all connections closed',
    );
    await waitFor(async () => (await openFds()) <= fdsBefore, 5000, `fds back to ${fdsBefore}`);
    // fewer is fine: an idle keep-alive connection to the engine may have timed out meanwhile
    expect(await openFds()).toBeLessThanOrEqual(fdsBefore);
  }, 180_000);
});
