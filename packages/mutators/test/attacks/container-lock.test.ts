// A container's lock, held by its own tenant: the engine holds it while it writes an archive of the container
// until the client has read it all (review, stop 27). The engine's container prune asks every container on it
// whether it runs, under that lock, before it applies the tenant's label filter, and runs one container or network
// prune at a time: another tenant's prune waited as long as the lock was held, or was refused (409). The engine's
// one stats collector, shared by every container watched, takes each one's lock in turn: a tenant watching its own
// locked container froze every tenant's stats (review 27e).
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Arena, arena } from './harness.ts';

let a: Arena;
beforeAll(async () => {
  a = await arena();
}, 120_000);
afterAll(async () => a?.[Symbol.asyncDispose](), 120_000);

/** A container of mallory's with a 32 MiB file, running or stopped. */
async function withBigFile(name: string, running: boolean): Promise<string> {
  const id = await a.ownContainer(name, {
    Cmd: ['sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=32 2>/dev/null; touch /ready; sleep 3600'],
  });
  expect((await a.mallory.api.request('POST', `/containers/${id}/start`)).status).toBe(204);
  for (let i = 0; i < 100; i++) {
    const r = await a.mallory.api.request('GET', `/containers/${id}/archive?path=/ready`);
    if (r.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!running) expect((await a.mallory.api.request('POST', `/containers/${id}/stop?t=0`)).status).toBe(204);
  return id;
}

/** `docker cp` out of the container through mallory's proxy, never read: the engine holds the container's lock. */
async function holdArchive(id: string): Promise<Socket> {
  const s = connect(a.mallory.socket);
  await once(s, 'connect');
  s.write(`GET /containers/${id}/archive?path=/big HTTP/1.1\r\nHost: d\r\n\r\n`);
  s.pause();
  // until the engine has filled what the client does not read
  await new Promise((r) => setTimeout(r, 1500));
  return s;
}

/** A GET through a proxy's socket, once its answer has begun; the answer is read as fast as it comes, and dropped. */
async function reading(socket: string, path: string): Promise<{ socket: Socket; ended: () => boolean }> {
  const s = connect(socket);
  await once(s, 'connect');
  let ended = false;
  const started = once(s, 'data');
  s.on('data', (chunk: Buffer) => {
    // the end of a chunked answer
    if (chunk.subarray(-5).toString('latin1') === '0\r\n\r\n') ended = true;
  });
  s.on('close', () => {
    ended = true;
  });
  s.write(`GET ${path} HTTP/1.1\r\nHost: d\r\n\r\n`);
  // the answer has begun: the engine is at work on it
  await started;
  return { socket: s, ended: () => ended };
}

const timed = async <T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> => {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
};

describe("a tenant holding its own container's lock", { timeout: 120_000 }, () => {
  it("does not hold back another tenant's container prune", async () => {
    const held = await holdArchive(await withBigFile(`${a.run}-lockrun`, true));
    try {
      const stopped = await a.victimContainer(`${a.run}-victim-stopped`, {}, false);
      const prune = await timed(() => a.victim.api.request('POST', '/containers/prune'));
      expect(prune.value.status, prune.value.text).toBe(200);
      expect(prune.value.json.ContainersDeleted).toEqual([stopped]);
      // before: as long as the lock was held (the engine asked mallory's container too)
      expect(prune.ms).toBeLessThan(3000);
      expect((await a.inspect('containers', stopped)).status).toBe(404);
      // with an until filter too (stop 28; it was the engine's prune, which waited on the lock)
      const another = await a.victimContainer(`${a.run}-victim-stopped2`, {}, false);
      const until = encodeURIComponent(JSON.stringify({ until: ['-1h'] }));
      const later = await timed(() => a.victim.api.request('POST', `/containers/prune?filters=${until}`));
      expect(later.value.json.ContainersDeleted, later.value.text).toEqual([another]);
      expect(later.ms).toBeLessThan(3000);
    } finally {
      held.destroy();
    }
  });

  it("keeps another tenant's network prune from the engine's one prune slot while its own prune waits", async () => {
    const id = await withBigFile(`${a.run}-lockstopped`, false);
    const held = await holdArchive(id);
    try {
      // mallory's own prune waits on her own container (its removal needs the lock)
      const own = a.mallory.api.request('POST', '/containers/prune');
      await new Promise((r) => setTimeout(r, 500));
      const net = await a.engine.request('POST', '/networks/create', {
        body: { Name: `${a.run}-victim-net`, Labels: a.victimLabels },
      });
      expect(net.status, net.text).toBe(201);
      const prune = await timed(() => a.victim.api.request('POST', '/networks/prune'));
      // before: 409 a prune operation is already running
      expect(prune.value.status, prune.value.text).toBe(200);
      expect(prune.value.json.NetworksDeleted).toEqual([`${a.run}-victim-net`]);
      expect(prune.ms).toBeLessThan(3000);
      held.destroy();
      const done = await own;
      expect(done.status, done.text).toBe(200);
      expect(done.json.ContainersDeleted).toEqual([id]);
    } finally {
      held.destroy();
    }
  });

  it("does not freeze another tenant's stats while it copies out of its own container", async (t) => {
    // a 2 GiB sparse file: the engine takes seconds to write its archive, even to a client that reads at once
    const mine = await a.ownContainer(`${a.run}-lockstats`, {
      Cmd: ['sh', '-c', 'truncate -s 2G /sparse; touch /ready; sleep 3600'],
    });
    expect((await a.mallory.api.request('POST', `/containers/${mine}/start`)).status).toBe(204);
    for (let i = 0; i < 100; i++) {
      if ((await a.mallory.api.request('GET', `/containers/${mine}/archive?path=/ready`)).status === 200)
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // (an engine whose one-shot samples lack the host's CPU time still serves stats from its collector)
    const one = await a.engine.request('GET', `/containers/${mine}/stats?stream=false&one-shot=true`);
    if (one.json?.cpu_stats?.system_cpu_usage === undefined) t.skip();
    const victim = await a.victimContainer(`${a.run}-victim-stats`);
    // mallory watches her own container's stats: the engine's one collector then visits it each round
    const watch = await reading(a.mallory.socket, `/containers/${mine}/stats`);
    const copy = await reading(a.mallory.socket, `/containers/${mine}/archive?path=/sparse`);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      expect(copy.ended(), 'the copy is still being written').toBe(false);
      const one = await timed(() => a.victim.api.request('GET', `/containers/${victim}/stats?stream=false`));
      expect(one.value.status, one.value.text).toBe(200);
      expect(one.value.json.id).toBe(victim);
      expect(one.value.json.cpu_stats.system_cpu_usage).toBeGreaterThan(0);
      // before: the engine's answer waited for the copy's end (18 s for 4 GiB, measured on the engine alone)
      expect(copy.ended(), 'the victim was answered while the copy was still being written').toBe(false);
      expect(one.ms).toBeLessThan(3000);
    } finally {
      watch.socket.destroy();
      copy.socket.destroy();
    }
  });
});
