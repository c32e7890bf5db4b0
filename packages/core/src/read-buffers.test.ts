// ReadBuffers through real sockets: bytes read into reused buffers arrive exactly, whatever the reader's pace.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ReadBuffers, SpareBuffers } from './read-buffers.ts';

const dir = mkdtempSync(join(tmpdir(), 'dockhand-read-buffers-'));
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});
// (not on process exit: a Vitest worker outlives the file, and its exit may never come)
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function listen(onConnection: (s: Socket) => void): Promise<string> {
  const path = join(dir, `${n++}.sock`);
  const server = createServer(onConnection);
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return path;
}

/**
 * A relay as the byte lane and the forwarder use it: `source`'s bytes are read through ReadBuffers and written
 * to the client, pausing the source while the client is slow. Resolves with what the client received and the
 * distinct buffers read into.
 */
async function relay(
  data: Buffer,
  reader: 'fast' | 'slow',
  spares?: SpareBuffers,
): Promise<{ received: Buffer; buffers: Set<ArrayBuffer> }> {
  const source = await listen((s) => s.end(data));
  const seen = new Set<ArrayBuffer>();
  const front = await listen((client) => {
    const buffers = new ReadBuffers(client, { first: 4096, max: 64 * 1024, spares });
    const up: Socket = connect({
      path: source,
      onread: {
        buffer: () => {
          const b = buffers.next();
          seen.add(b.buffer as ArrayBuffer);
          return b;
        },
        callback: (n, buf) => {
          if (client.write(buffers.filled(n, buf))) return true;
          client.once('drain', () => up.resume());
          return false;
        },
      },
    });
    up.on('end', () => client.end());
    client.on('close', () => {
      up.destroy();
      buffers.dispose();
    });
  });
  const client = connect(front);
  const chunks: Buffer[] = [];
  if (reader === 'slow') {
    // reads a little at a time, so that writes back up and buffers are still held when the next read comes
    client.pause();
    const drain = (max: number) => {
      for (let i = 0; i < max; i++) {
        const c: Buffer | null = client.read(i < 4 ? 16 * 1024 : undefined);
        if (c === null) return;
        chunks.push(c);
      }
    };
    const tick = setInterval(() => drain(4), 1);
    client.on('readable', () => {});
    await new Promise<void>((resolve) =>
      client.on('end', () => {
        clearInterval(tick);
        drain(Number.POSITIVE_INFINITY);
        resolve();
      }),
    );
  } else {
    client.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((r) => client.on('end', r));
  }
  client.destroy();
  return { received: Buffer.concat(chunks), buffers: seen };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('ReadBuffers', () => {
  it('relays 32 MiB byte-exact to a slow reader, with a handful of buffers', async () => {
    const data = randomBytes(32 * 1024 * 1024);
    const { received, buffers } = await relay(data, 'slow');
    expect(received.length).toBe(data.length);
    expect(sha(received)).toBe(sha(data));
    // reused, not one per read: a 32 MiB stream at 64 KiB is 512 reads
    expect(buffers.size).toBeLessThan(16);
  }, 60_000);

  it('relays 32 MiB byte-exact to a fast reader', async () => {
    const data = randomBytes(32 * 1024 * 1024);
    const { received, buffers } = await relay(data, 'fast');
    expect(sha(received)).toBe(sha(data));
    expect(buffers.size).toBeLessThan(16);
  }, 60_000);

  it('grows reads only while they fill their buffers', () => {
    const sink = { writableLength: 0 };
    const rb = new ReadBuffers(sink, { first: 1024, max: 16 * 1024 });
    let b = rb.next();
    expect(b.length).toBe(1024);
    rb.filled(10, b); // a short read: no growth
    expect(rb.next().length).toBe(1024);
    b = rb.next();
    rb.filled(1024, b);
    b = rb.next();
    expect(b.length).toBe(4096);
    rb.filled(4096, b);
    b = rb.next();
    expect(b.length).toBe(16 * 1024);
    rb.filled(16 * 1024, b);
    expect(rb.next().length).toBe(16 * 1024); // capped at max
  });

  it('never hands out a buffer whose bytes the sink still holds', () => {
    const sink = { writableLength: 0 };
    const rb = new ReadBuffers(sink, { first: 1024, max: 1024 });
    const a = rb.next();
    rb.filled(100, a);
    sink.writableLength = 100; // the write of a's bytes has not completed
    const b = rb.next();
    expect(b).not.toBe(a);
    rb.filled(50, b);
    sink.writableLength = 50; // a's write completed, b's has not
    const c = rb.next();
    expect(c).toBe(a);
    expect(c).not.toBe(b);
  });

  it('shares first-size buffers between connections through SpareBuffers', async () => {
    const spares = new SpareBuffers(4);
    const data = randomBytes(1000);
    const first = await relay(data, 'fast', spares);
    await new Promise((r) => setTimeout(r, 50)); // the relay's client 'close' runs dispose()
    const second = await relay(data, 'fast', spares);
    expect(sha(second.received)).toBe(sha(data));
    expect([...second.buffers].some((b) => first.buffers.has(b))).toBe(true);
  });
});

describe('ReadBuffers.copied', () => {
  it('reads into a copied-out buffer again, and never into one whose bytes the sink still holds', () => {
    // a sink that holds every byte written to it: nothing handed to it is ever free
    const sink = { writableLength: 0 };
    const buffers = new ReadBuffers(sink, { first: 1024, max: 1024 });
    const held = buffers.next();
    held.fill(1);
    buffers.filled(10, held);
    sink.writableLength = 10;
    const copied = buffers.next();
    expect(copied).not.toBe(held);
    expect(buffers.copied(10, copied).length).toBe(10);
    // the copied one is read into next, and the held one still is not (the sink's count was left alone)
    expect(buffers.next()).toBe(copied);
    buffers.copied(5, copied);
    const third = buffers.next();
    expect(third).toBe(copied);
    expect(held[0]).toBe(1);
  });
});
