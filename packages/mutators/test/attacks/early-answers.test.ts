// Requests whose body is not all read when they are answered (review 28a): the engine answers some before it reads
// the body (a `PUT .../archive` to a path that does not exist), and the proxy refuses others. The engine's server
// then reads and drops the rest, answers `Connection: close` and closes; a client that sends its whole body
// before it reads (docker-py) gets the answer.
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arena, arena, build, ENGINE_SOCKET } from './harness.ts';

let a: Arena;
let own: string;
let victim: string;
beforeAll(async () => {
  a = await arena();
  own = await a.ownContainer(`${a.run}-own`);
  victim = await a.victimContainer(`${a.run}-victim`);
}, 120_000);
afterAll(async () => a?.[Symbol.asyncDispose](), 120_000);

/**
 * Sends `parts` in order (a number is a pause in ms), whole, then reads; what came back before the other end closed
 * or `timeoutMs` passed.
 */
function send(
  socketPath: string,
  parts: (Buffer | string | number)[],
  timeoutMs: number,
): Promise<{ out: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s: Socket = connect({ path: socketPath, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ out: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('end', () => s.end());
    s.on('close', () => finish(true));
    s.on('connect', async () => {
      for (const p of parts) {
        if (s.destroyed) return;
        if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
        else await new Promise((r) => s.write(p, r));
      }
    });
  });
}

const statuses = (out: string) => [...out.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));

function chunked(n: number, end = '0\r\n\r\n'): Buffer {
  const parts: Buffer[] = [];
  for (let left = n; left > 0; left -= 65536) {
    const k = Math.min(left, 65536);
    parts.push(Buffer.from(`${k.toString(16)}\r\n`), Buffer.alloc(k, 0x61), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(end));
  return Buffer.concat(parts);
}

describe('a request the engine answers before it reads the body', { timeout: 60_000 }, () => {
  const size = 64 * 1024 * 1024;
  it.each([
    ['sized', `Content-Length: ${size}`, Buffer.alloc(size)],
    ['chunked', 'Transfer-Encoding: chunked', chunked(size)],
  ])('%s: the answer, then a close, as from the engine', async (_framing, field, body) => {
    const head = `PUT /containers/${own}/archive?path=/nonexistent/dir HTTP/1.1\r\nHost: d\r\n${field}\r\n\r\n`;
    for (const socket of [ENGINE_SOCKET, a.mallory.socket]) {
      const r = await send(socket, [head, body], 10_000);
      expect(statuses(r.out), socket).toEqual([404]);
      expect(r.out).toMatch(/\r\nConnection: close\r\n/i);
      // before: the proxy read no more of the body and kept the connection open
      expect(r.closed, socket).toBe(true);
    }
  });

  it('docker-py put_archive to a path that does not exist gets NotFound', async () => {
    const out = await promisify(execFile)(
      'python3',
      [
        '-c',
        `import docker, sys, time
c = docker.APIClient(base_url=sys.argv[1], timeout=30)
t = time.time()
try:
  c.put_archive(sys.argv[2], '/nonexistent/dir', b'\\0' * (100 << 20)); print('stored')
except Exception as e: print(type(e).__name__, round(time.time() - t))
print(c.version()['ApiVersion'] != '')`,
        a.mallory.dockerHost,
        own,
      ],
      { maxBuffer: 1 << 20 },
    );
    // before: a ReadTimeout after 30 s
    expect(out.stdout.trim().split('\n')).toEqual([expect.stringMatching(/^NotFound \d$/), 'True']);
  });
});

describe('bytes that do not parse behind a body the proxy dropped', { timeout: 60_000 }, () => {
  const archive = () => `/containers/${victim}/archive?path=/tmp`;
  const behind = `POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\n{}`;
  it.each([
    [
      'a bad chunk size',
      () => [
        `PUT ${archive()} HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n`,
        chunked(3 * 65536, 'zz\r\nxx\r\n0\r\n\r\n'),
      ],
    ],
    [
      'a trailer naming Content-Length',
      () => [
        `PUT ${archive()} HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n`,
        chunked(1 << 20, '0\r\nX-Trailer: 1\r\nContent-Length: 5\r\n\r\n'),
      ],
    ],
    [
      'more after an HTTP/1.0 body',
      () => [
        `PUT ${archive()} HTTP/1.0\r\nHost: d\r\nContent-Length: ${1 << 20}\r\n\r\n`,
        Buffer.alloc(1 << 20),
      ],
    ],
  ])('%s: one answer, the refusal', async (_what, parts) => {
    const r = await send(a.mallory.socket, [...parts(), behind], 10_000);
    // before: a second, unasked-for 400 behind it
    expect(statuses(r.out)).toEqual([404]);
    expect(r.closed).toBe(true);
  });
});

// found by review 28a: a classic build's context that stopped arriving was held for good (8 connections held
// 974 MiB for over 70 s)
describe('a classic build whose context stops arriving', { timeout: 120_000 }, () => {
  it('is refused after 60 s without a byte, in its stream', async () => {
    const s = connect(a.mallory.socket);
    await new Promise((r) => s.on('connect', r));
    let out = '';
    s.on('data', (c: Buffer) => {
      out += c.toString('latin1');
    });
    const t0 = performance.now();
    s.write(
      `POST /build?t=${a.run}-stalled HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: ${10 << 20}\r\n\r\n`,
    );
    s.write(Buffer.alloc(1 << 20));
    while (!out.includes('errorDetail') && performance.now() - t0 < 90_000)
      await new Promise((r) => setTimeout(r, 500));
    s.destroy();
    expect(statuses(out)).toEqual([200]);
    expect(out).toContain('the build context stopped arriving: nothing for 60 s after 1048576 bytes');
    expect(performance.now() - t0).toBeGreaterThan(59_000);
  });

  // each classic build holds its context (up to 64 MiB) while it runs: without a bound, many at once made the
  // tenant's proxy hold gigabytes (limitClassicBuilds, in the preset)
  it('at most 4 run at once: a fifth waits, its context unread, until one of them ends', async () => {
    const stalled: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const s = connect(a.mallory.socket);
        await new Promise((r) => s.on('connect', r));
        s.on('error', () => {});
        s.write(
          `POST /build?t=${a.run}-held${i} HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: ${10 << 20}\r\n\r\n`,
        );
        s.write(Buffer.alloc(1 << 20));
        stalled.push(s);
      }
      await new Promise((r) => setTimeout(r, 1000));
      let answered = 0;
      const fifth = build(a.mallory.api, `t=${a.run}-fifth`, 'FROM busybox\nLABEL fifth=1\n').then((r) => {
        answered = performance.now();
        return r;
      });
      await new Promise((r) => setTimeout(r, 3000));
      // before: built at once
      expect(answered).toBe(0);
      const freed = performance.now();
      stalled.shift()!.destroy();
      const { reply, id } = await fifth;
      expect(reply.status).toBe(200);
      expect(id, reply.text).toBeDefined();
      expect(answered - freed).toBeLessThan(30_000);
    } finally {
      for (const s of stalled) s.destroy();
    }
  });
});
