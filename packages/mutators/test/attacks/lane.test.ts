// The byte lane under a tenant pipeline: a request naming one of the tenant's own containers by its full id,
// once the ownership cache knows it, is forwarded as bytes; everything else still meets the pipeline. The
// access log (`lane: true`) shows which path carried each request.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxy } from '@dockhand/core';
import pino from 'pino';
import { Client as HttpClient } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workshopTenant } from '../../src/index.ts';
import { type Arena, arena, ENGINE_SOCKET } from './harness.ts';

let a: Arena;
let own: string;
let victim: string;

beforeAll(async () => {
  a = await arena();
  own = await a.ownContainer(`${a.run}-own`);
  victim = await a.victimContainer(`${a.run}-victim`);
}, 120_000);

afterAll(async () => {
  await a?.[Symbol.asyncDispose]();
}, 120_000);

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Requests in order on one new connection of mallory's; the replies and how each was carried. */
async function onOneConnection(...requests: Sent[]) {
  const c = new HttpClient('http://docker', { socketPath: a.mallory.socket });
  const out: { status: number; text: string; lane: boolean | undefined }[] = [];
  try {
    for (const r of requests) {
      const before = a.mallory.requests.length;
      const res = await c.request({
        method: (r.method ?? 'GET') as 'GET',
        path: r.path,
        headers: r.headers ?? {},
        body: r.body ?? null,
      });
      const text = await res.body.text();
      await expect.poll(() => a.mallory.requests.length).toBeGreaterThan(before);
      out.push({
        status: res.statusCode,
        text,
        lane: a.mallory.requests.at(-1)!.lane as boolean | undefined,
      });
    }
  } finally {
    await c.close();
  }
  return out;
}

describe('the byte lane under the workshop tenant pipeline', { timeout: 60_000 }, () => {
  it('carries requests on an own container named by full id, once ownership is known', async () => {
    // the first look by name resolves it through the pipeline and caches the verdict on the full id
    const [byName] = await onOneConnection({ path: `/containers/${a.run}-own/json` });
    expect(byName).toMatchObject({ status: 200, lane: undefined });
    const replies = await onOneConnection(
      { path: `/v1.41/containers/${own}/json` },
      { method: 'POST', path: `/containers/${own}/start` },
      { path: `/containers/${own}/top` },
      { path: `/containers/${own}/logs?stdout=1` },
      { method: 'POST', path: `/containers/${own}/pause` },
      { method: 'POST', path: `/containers/${own}/unpause` },
    );
    expect(replies.map((r) => [r.status, r.lane])).toEqual([
      [200, true],
      [204, true],
      [200, true],
      [200, true],
      [204, true],
      [204, true],
    ]);
    expect(JSON.parse(replies[0]!.text).Id).toBe(own);
  });

  it('takes anything else through the pipeline, which refuses the victim as before, on the same connection', async () => {
    const replies = await onOneConnection(
      { path: `/containers/${own}/json` },
      { path: `/containers/${victim}/json` },
      { path: `/containers/${victim}/json` },
      { path: `/containers/${own}/json` },
    );
    // the pipeline's requests do not take the connection off the lane: the own container is on it again after
    expect(replies.map((r) => [r.status, r.lane])).toEqual([
      [200, true],
      [404, undefined],
      [404, undefined],
      [200, true],
    ]);
    expect(JSON.parse(replies[1]!.text)).toEqual({ message: `No such container: ${victim}` });
    // on a connection of its own, the victim's full id never takes the lane either
    const [alone] = await onOneConnection({ method: 'POST', path: `/containers/${victim}/stop` });
    expect(alone).toMatchObject({ status: 404, lane: undefined });
    expect((await a.inspect('containers', victim)).json.State.Running).toBe(true);
  });

  it('keeps prefixes, exec creation, form bodies and renames on the pipeline', async () => {
    const replies = await onOneConnection(
      { path: `/containers/${own.slice(0, 12)}/json` },
      {
        method: 'POST',
        path: `/containers/${own}/exec`,
        headers: { 'content-type': 'application/json' },
        body: '{"Cmd":["true"]}',
      },
    );
    expect(replies.map((r) => [r.status, r.lane])).toEqual([
      [200, undefined],
      [201, undefined],
    ]);
    const [form] = await onOneConnection({
      method: 'POST',
      path: `/containers/${own}/stop`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 't=0',
    });
    expect(form).toMatchObject({ status: 400, lane: undefined });
    const [rename] = await onOneConnection({
      method: 'POST',
      path: `/containers/${own}/rename?name=${a.run}-victim`,
    });
    expect(rename).toMatchObject({ status: 409, lane: undefined });
  });

  it('keeps bodies the pipeline checks on it, on an own container named by full id', async () => {
    const replies = await onOneConnection(
      { path: `/containers/${own}/json` },
      {
        method: 'POST',
        path: `/containers/${own}/update`,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ Devices: [{ PathOnHost: '/dev/kmsg', PathInContainer: '/dev/kmsg' }] }),
      },
    );
    expect(replies.map((r) => [r.status, r.lane])).toEqual([
      [200, true],
      [403, undefined],
    ]);
    const [start] = await onOneConnection({
      method: 'POST',
      path: `/containers/${own}/start`,
      headers: { 'content-type': 'application/json' },
      body: '{"Privileged":true}',
    });
    expect(start).toMatchObject({ status: 403, lane: undefined });
    expect((await a.inspect('containers', own)).json.HostConfig.Devices ?? []).toEqual([]);
  });

  it('takes a removal through the pipeline, and the removed id off the lane at once', async () => {
    const gone = await a.ownContainer(`${a.run}-gone`);
    // a container's first inspect is the pipeline's, which learns from the engine's answer that it mounts no volume
    // subpath (whose errors the pipeline hides: subpathErrors); from then on it takes the lane
    const [first] = await onOneConnection({ path: `/containers/${gone}/json` });
    expect(first).toMatchObject({ status: 200, lane: undefined });
    const replies = await onOneConnection(
      { path: `/containers/${gone}/json` },
      { method: 'DELETE', path: `/containers/${gone}` },
      { path: `/containers/${gone}/json` },
    );
    expect(replies.map((r) => [r.status, r.lane])).toEqual([
      [200, true],
      [204, undefined],
      [404, undefined],
    ]);
    const [after] = await onOneConnection({ path: `/containers/${gone}/json` });
    expect(after).toMatchObject({ status: 404, lane: undefined });
  });

  it('passes through routes no middleware acts on, and never those it denies', async () => {
    const replies = await onOneConnection({ path: '/_ping' }, { path: '/version' }, { path: '/swarm' });
    expect(replies.map((r) => [r.status, r.lane])).toEqual([
      [200, true],
      [200, true],
      [503, undefined],
    ]);
    // an own container by full id, under an API version the gate refuses
    const [old] = await onOneConnection({ path: `/v1.23/containers/${own}/json` });
    expect(old).toMatchObject({ status: 400, lane: undefined });
  });

  it('opens for the very first requests of a new tenant proxy, before anything has met the pipeline', async () => {
    // the preset used to build its pipeline on the first request it saw, so until then nothing took the lane and
    // the connections of those first requests went to the pipeline for good
    // (since stop 19 nothing takes the lane until the instance's volumes have been checked on the engine: a proxy
    // checks them before it listens, as `dockhand proxy` does, and the lane is open from the first request)
    const lines: Record<string, unknown>[] = [];
    const tenant = workshopTenant({
      tenant: `${a.run}-fresh`,
      projectVolume: a.mallory.projectVolume,
      socketVolume: a.mallory.socketVolume,
    });
    const proxy = createProxy({
      upstream: `unix://${ENGINE_SOCKET}`,
      middleware: [tenant],
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) }),
      accessLog: true,
    });
    const dir = await mkdtemp(join(tmpdir(), 'dockhand-lane-'));
    const socket = join(dir, 'docker.sock');
    await tenant.verifyInstanceVolumes(proxy.upstream);
    await proxy.listen(socket);
    const c = new HttpClient('http://docker', { socketPath: socket, pipelining: 4 });
    try {
      const replies = await Promise.all(
        ['/_ping', '/_ping', '/version', '/containers/json'].map(async (path) => {
          const r = await c.request({ method: 'GET', path });
          await r.body.text();
          return r.statusCode;
        }),
      );
      expect(replies).toEqual([200, 200, 200, 200]);
      const carried = lines.filter((l) => l.msg === 'request').map((l) => [l.path, l.lane ?? false]);
      expect(carried).toEqual([
        ['/_ping', true],
        ['/_ping', true],
        ['/version', true],
        ['/containers/json', false],
      ]);
    } finally {
      await c.close();
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
