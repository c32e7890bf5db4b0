import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { describe, expect, test } from 'vitest';
import { createTcpForward } from './tcp-forward.ts';

// Fakes for what the engine cannot do on cue: a real peer that half-closes, or resets.
async function peer(onConnection: (s: Socket) => void): Promise<Server & AsyncDisposable> {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(server, {
    [Symbol.asyncDispose]: () => new Promise<void>((r) => server.close(() => r())),
  });
}

async function forwardTo(server: Server) {
  const { port } = server.address() as { port: number };
  for (let local = 40000 + Math.floor(Math.random() * 1000); ; local++) {
    const fwd = createTcpForward(local, { host: '127.0.0.1', port, via: 'network' });
    const r = await fwd.bind();
    if (r.inUse.length === 0 && r.failed.length === 0) return fwd;
    await fwd.close();
  }
}

describe('createTcpForward', () => {
  test('a client half-close reaches the peer, and the peer can still answer', async () => {
    await using server = await peer((s) => {
      const got: Buffer[] = [];
      s.on('data', (d) => got.push(d));
      s.on('end', () => s.end(`got:${Buffer.concat(got)}`)); // answers only after the client's FIN
    });
    await using fwd = await forwardTo(server);
    const reply = await new Promise<string>((resolve, reject) => {
      const c = tcpConnect({ host: '127.0.0.1', port: fwd.port, allowHalfOpen: true }, () => c.end('hello'));
      let text = '';
      c.on('data', (d) => {
        text += d;
      });
      c.on('end', () => resolve(text));
      c.on('error', reject);
    });
    expect(reply).toBe('got:hello');
  });

  test('a reset from the peer resets the client, and nothing stays open', async () => {
    await using server = await peer((s) => s.on('data', () => s.resetAndDestroy()));
    await using fwd = await forwardTo(server);
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const c = tcpConnect({ host: '127.0.0.1', port: fwd.port }, () => c.write('x'));
      c.on('error', resolve);
      c.on('close', () => resolve(undefined));
    });
    expect(err?.code).toBe('ECONNRESET');
    await expect.poll(() => fwd.connections()).toBe(0);
  });

  test('a refused upstream resets the client', async () => {
    const server = await peer(() => {});
    const fwd = await forwardTo(server);
    await server[Symbol.asyncDispose]();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const c = tcpConnect({ host: '127.0.0.1', port: fwd.port });
      c.on('error', resolve);
      c.on('close', () => resolve(undefined));
    });
    expect(err?.code).toBe('ECONNRESET');
    await fwd.close();
  });
});
