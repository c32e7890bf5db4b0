// Reaching another tenant's services over the network (found by review, stop 20: testcontainers' reaper, which
// removes whatever the client that connects to its published port names, was reached from another tenant's
// container). Two paths led there: the engine's default bridge, which every tenant's containers shared, and the
// host's addresses, where every published port answers every container. `tenantNetwork` (in the preset) closes
// both: a tenant's containers go on its own network, and its ports are published on the host's loopback.
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantLoopback } from '../../src/index.ts';
import { type Arena, arena, refused } from './harness.ts';

let a: Arena;
/** The loopback addresses the preset publishes each tenant's ports on. */
let malloryAddress: string;
let victimAddress: string;

/** The host's own IPv4 addresses, loopback left out: the engine's gateways and the host's own. */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
    .map((i) => i!.address);
}

/** The HTTP answer of a URL from the test process (the host), or `undefined` when nothing answers. */
async function fetchText(url: string): Promise<string | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return await r.text();
  } catch {
    return undefined;
  }
}

/** Runs a container through mallory's proxy to its end; returns its output, read on the engine. */
async function malloryRuns(script: string, extra: Record<string, unknown> = {}): Promise<string> {
  const id = await a.ownContainer(`${a.run}-probe-${Math.random().toString(36).slice(2, 8)}`, {
    Cmd: ['sh', '-c', script],
    ...extra,
  });
  expect((await a.mallory.api.request('POST', `/containers/${id}/start`)).status).toBe(204);
  await a.engine.request('POST', `/containers/${id}/wait`);
  const logs = await a.engine.request('GET', `/containers/${id}/logs?stdout=1&stderr=1`);
  // the multiplexed stream's 8-byte frame headers, left out
  return logs.text.replace(/[\x00-\x08][\s\S]{7}/g, '');
}

let victim: string;
let victimPort: number;
let victimIp: string;
let ownWebIp: string;

beforeAll(async () => {
  a = await arena();
  malloryAddress = tenantLoopback(a.mallory.name);
  victimAddress = tenantLoopback(a.victim.name);
  // the victim's service, made through the victim's own proxy, on a port of the engine's choice (as
  // testcontainers publishes its reaper: `HostIp` left empty)
  const c = await a.victim.api.request('POST', `/containers/create?name=${a.run}-victim-web`, {
    body: {
      Image: 'busybox',
      Cmd: ['sh', '-c', 'echo victim-page > /tmp/index.html && httpd -f -p 80 -h /tmp'],
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '' }] } },
      Labels: { 'dockhand.test': a.run },
    },
  });
  expect(c.status, c.text).toBe(201);
  victim = c.json.Id;
  expect((await a.victim.api.request('POST', `/containers/${victim}/start`)).status).toBe(204);
  const info = (await a.inspect('containers', victim)).json;
  victimPort = Number(info.NetworkSettings.Ports['80/tcp'][0].HostPort);
  victimIp = (Object.values(info.NetworkSettings.Networks)[0] as { IPAddress: string }).IPAddress;
  // the attacker's own service, on the attacker's network, which its probes reach
  const own = await a.ownContainer(`${a.run}-own-web`, {
    Cmd: ['sh', '-c', 'echo own-page > /tmp/index.html && httpd -f -p 80 -h /tmp'],
  });
  expect((await a.mallory.api.request('POST', `/containers/${own}/start`)).status).toBe(204);
  ownWebIp = (
    Object.values((await a.inspect('containers', own)).json.NetworkSettings.Networks)[0] as {
      IPAddress: string;
    }
  ).IPAddress;
  // the victim's own tools on the host reach it, at its address
  let page: string | undefined;
  for (let i = 0; i < 50 && page === undefined; i++) {
    page = await fetchText(`http://${victimAddress}:${victimPort}/`);
    if (page === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  expect(page).toBe('victim-page\n');
}, 120_000);

afterAll(async () => {
  await a?.[Symbol.asyncDispose]();
}, 120_000);

describe("another tenant's services over the network (tenantNetwork, in workshopTenant)", () => {
  it("a container left on the engine's default network goes on the tenant's own, ports on the tenant's own loopback address", async () => {
    const info = (await a.inspect('containers', victim)).json;
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([a.victim.network]);
    expect(info.HostConfig.NetworkMode).toBe(a.victim.network);
    expect(info.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: victimAddress, HostPort: '' }] });
    for (const b of info.NetworkSettings.Ports['80/tcp']) expect(b.HostIp).toBe(victimAddress);
    expect(victimAddress).not.toBe(malloryAddress);
  });

  it.each<[string, Record<string, unknown>]>([
    ['no network named', {}],
    ['NetworkMode bridge, with its endpoint', { NetworkMode: 'bridge' }],
    ['NetworkMode default', { NetworkMode: 'default' }],
  ])(
    "the attacker's container (%s) reaches the victim's published port through no host address, nor the victim's address",
    async (_w, hc) => {
      const targets = [...hostAddresses().map((h) => `${h}:${victimPort}`), `${victimIp}:80`];
      const endpoints =
        hc.NetworkMode === 'bridge' ? { NetworkingConfig: { EndpointsConfig: { bridge: {} } } } : {};
      const out = await malloryRuns(
        [
          // busybox's wget crashes here: nc sends the request
          'get() { printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2 $(echo "$1" | tr : " ") 2>/dev/null; }',
          'gw=$(ip route | sed -n "s/^default via \\([0-9.]*\\).*/\\1/p")',
          `for t in $gw:${victimPort} ${targets.join(' ')}; do`,
          '  if get "$t" | grep -q victim-page; then echo "REACHED $t"; else echo "closed $t"; fi',
          'done',
          // the probe itself works: the attacker's own service answers it
          `get ${ownWebIp}:80 | grep -q own-page && echo "probe works"`,
        ].join('\n'),
        { HostConfig: hc, ...endpoints },
      );
      expect(out).toContain('probe works');
      // every address was tried, and none answered with the victim's page
      expect(out.match(/closed /g)?.length ?? 0, out).toBe(targets.length + 1);
      expect(out).not.toContain('REACHED');
    },
  );

  it.each<[string, Record<string, unknown>]>([
    ["the engine's bridge gateway", { '80/tcp': [{ HostIp: '172.17.0.1', HostPort: '' }] }],
    ["the host's own address", { '80/tcp': [{ HostIp: hostAddresses()[0] ?? '192.0.2.1', HostPort: '' }] }],
    ['one of several bindings', { '80/tcp': [{ HostPort: '' }, { HostIp: '10.0.0.1', HostPort: '' }] }],
    // spellings of a loopback address the engine cannot parse, and so binds on every address (found by review,
    // stop 21)
    ['[::1], in brackets', { '80/tcp': [{ HostIp: '[::1]', HostPort: '' }] }],
    ['127.0.0.01', { '80/tcp': [{ HostIp: '127.0.0.01', HostPort: '' }] }],
    ['127.0.0.256', { '80/tcp': [{ HostIp: '127.0.0.256', HostPort: '' }] }],
    ['127.000.000.001', { '80/tcp': [{ HostIp: '127.000.000.001', HostPort: '' }] }],
  ])('a port published on %s is refused', async (_w, bindings) => {
    const before = (await a.engineContainers()).length;
    const r = await a.mallory.api.request('POST', '/containers/create', {
      body: { Image: 'busybox', Labels: { 'dockhand.test': a.run }, HostConfig: { PortBindings: bindings } },
    });
    refused(r, 403, new RegExp(`ports are published on ${malloryAddress.replaceAll('.', '\\.')},`));
    expect(await a.engineContainers()).toHaveLength(before);
  });

  it('every port of PublishAllPorts (-P), and any-address bindings of both families, go on the loopback', async () => {
    const id = await a.ownContainer(`${a.run}-publish-all`, {
      ExposedPorts: { '81/tcp': {} },
      HostConfig: {
        PublishAllPorts: true,
        PortBindings: {
          '80/tcp': [
            { HostIp: '0.0.0.0', HostPort: '' },
            { HostIp: '::', HostPort: '' },
          ],
        },
      },
    });
    const info = (await a.inspect('containers', id)).json;
    expect(info.HostConfig.PublishAllPorts).toBe(false);
    expect(info.HostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: malloryAddress, HostPort: '' }],
      '81/tcp': [{ HostIp: malloryAddress, HostPort: '' }],
    });
    expect((await a.engine.request('DELETE', `/containers/${id}?force=1`)).status).toBe(204);
  });

  it("any loopback binding goes on the tenant's own address (a port on ::1 took another tenant's 127.0.0.1 port for clients that try ::1 first; found by review, stop 21); the tenant's own network is its to attach to, the victim's is not", async () => {
    const id = await a.ownContainer(`${a.run}-loopback`, {
      HostConfig: {
        NetworkMode: 'none',
        PortBindings: {
          '80/tcp': [
            { HostIp: '127.0.0.1', HostPort: '' },
            { HostIp: '127.0.0.2', HostPort: '' },
            { HostIp: '::1', HostPort: '' },
          ],
        },
      },
    });
    expect((await a.inspect('containers', id)).json.HostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: malloryAddress, HostPort: '' }],
    });
    const other = await a.ownContainer(`${a.run}-attach`, { HostConfig: { NetworkMode: 'none' } });
    // a container with a network of its own joins the tenant's network (as the forwarder attaches it)
    const net = await a.mallory.api.request('POST', '/networks/create', {
      body: { Name: `${a.run}-mallory-app`, Labels: { 'dockhand.test': a.run } },
    });
    expect(net.status, net.text).toBe(201);
    const app = await a.ownContainer(`${a.run}-app`, { HostConfig: { NetworkMode: `${a.run}-mallory-app` } });
    const join = await a.mallory.api.request('POST', `/networks/${a.mallory.network}/connect`, {
      body: { Container: app },
    });
    expect(join.status, join.text).toBe(200);
    expect(Object.keys((await a.inspect('containers', app)).json.NetworkSettings.Networks).sort()).toEqual(
      [`${a.run}-mallory-app`, a.mallory.network].sort(),
    );
    refused(
      await a.mallory.api.request('POST', `/networks/${a.victim.network}/connect`, {
        body: { Container: other },
      }),
      404,
      /network .* not found/,
    );
    refused(
      await a.mallory.api.request('POST', '/containers/create', {
        body: { Image: 'busybox', HostConfig: { NetworkMode: a.victim.network } },
      }),
      404,
    );
    expect(Object.keys((await a.inspect('containers', other)).json.NetworkSettings.Networks)).toEqual([
      'none',
    ]);
  });

  it("the tenant's own containers joining and leaving its own network show in its events, as the forwarder needs, and no other container's there (found by review, stop 23)", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const id = await a.ownContainer(`${a.run}-rejoin`);
    expect((await a.mallory.api.request('POST', `/containers/${id}/start`)).status).toBe(204);
    for (const step of ['disconnect', 'connect'] as const) {
      const r = await a.mallory.api.request('POST', `/networks/${a.mallory.network}/${step}`, {
        body: { Container: id },
      });
      expect(r.status, r.text).toBe(200);
    }
    // a container not the tenant's, on the tenant's network, put there on the engine itself
    const stranger = await a.victimContainer(`${a.run}-stranger`);
    for (const step of ['connect', 'disconnect'] as const) {
      const r = await a.engine.request('POST', `/networks/${a.mallory.network}/${step}`, {
        body: { Container: stranger },
      });
      expect(r.status, r.text).toBe(200);
    }
    const until = Math.floor(Date.now() / 1000) + 1;
    const filters = encodeURIComponent(JSON.stringify({ type: ['network'] }));
    const r = await a.mallory.api.request('GET', `/events?since=${since}&until=${until}&filters=${filters}`);
    expect(r.status).toBe(200);
    const seen = r.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { Action: string; Actor: { Attributes: Record<string, string> } })
      .filter((e) => e.Actor.Attributes.container === id)
      .map((e) => `${e.Action} ${e.Actor.Attributes.name}`);
    // (the engine reports a running container's disconnect twice)
    expect(new Set(seen)).toEqual(
      new Set([`connect ${a.mallory.network}`, `disconnect ${a.mallory.network}`]),
    );
    expect(seen.at(-1)).toBe(`connect ${a.mallory.network}`);
    expect(r.text).not.toContain(stranger);
    // the engine did emit the stranger's
    const direct = await a.engine.request('GET', `/events?since=${since}&until=${until}&filters=${filters}`);
    expect(direct.text).toContain(stranger);
  });

  it("legacy links and aliases work on the tenant's own network, where no other tenant's containers are (found by review, stop 21)", async () => {
    const db = await a.ownContainer(`${a.run}-linked-db`, {});
    expect((await a.mallory.api.request('POST', `/containers/${db}/start`)).status).toBe(204);
    // `docker run --link <db>:database`: the link moves to the tenant's network with the container
    const out = await malloryRuns(
      'ping -c 1 -W 2 database >/dev/null && echo linked; ping -c 1 -W 2 api >/dev/null && echo aliased',
      {
        HostConfig: { Links: [`${a.run}-linked-db:database`] },
      },
    );
    expect(out).toContain('linked');
    // an alias of the tenant's own on its own network
    const aliased = await a.mallory.api.request('POST', `/containers/create?name=${a.run}-aliased`, {
      body: {
        Image: 'busybox',
        Cmd: ['sleep', '60'],
        Labels: { 'dockhand.test': a.run },
        NetworkingConfig: { EndpointsConfig: { [a.mallory.network]: { Aliases: ['api'] } } },
      },
    });
    expect(aliased.status, aliased.text).toBe(201);
    expect((await a.mallory.api.request('POST', `/containers/${aliased.json.Id}/start`)).status).toBe(204);
    expect(await malloryRuns('ping -c 1 -W 2 api >/dev/null && echo aliased')).toContain('aliased');
  });

  it.each<[string, (ip: string) => [string, string, unknown?]]>([
    ['a pull', (ip) => ['POST', `/images/create?fromImage=${ip}:80/x&tag=1`]],
    [
      'a login',
      (ip) => ['POST', '/auth', { serveraddress: `http://${ip}:80/v2/`, username: 'u', password: 'p' }],
    ],
    ['a distribution inspect', (ip) => ['GET', `/distribution/${ip}:80/x:1/json`]],
  ])(
    "%s from a registry at the victim container's address (the engine reaches it; found by review, stop 21)",
    async (_w, request) => {
      const [method, path, body] = request(victimIp);
      const r = await a.mallory.api.request(method, path, body === undefined ? {} : { body });
      refused(r, 403, /is on a network of the engine's containers/);
    },
  );

  it('a legacy link follows its container by name, also once the container is recreated, and is refused to a container elsewhere (found by review, stop 21)', async () => {
    const dbName = `${a.run}-relinked-db`;
    const db = await a.ownContainer(dbName, {});
    expect((await a.mallory.api.request('POST', `/containers/${db}/start`)).status).toBe(204);
    const linker = await a.ownContainer(`${a.run}-linker`, {
      Cmd: ['sh', '-c', 'sleep 5; ping -c 1 -W 2 database >/dev/null && echo linked'],
      HostConfig: { Links: [`${dbName}:database`] },
    });
    expect((await a.mallory.api.request('POST', `/containers/${linker}/start`)).status).toBe(204);
    // the linked container recreated under its name, as compose recreates a service's container
    expect((await a.mallory.api.request('DELETE', `/containers/${db}?force=1`)).status).toBe(204);
    const again = await a.ownContainer(dbName, {});
    expect((await a.mallory.api.request('POST', `/containers/${again}/start`)).status).toBe(204);
    await a.engine.request('POST', `/containers/${linker}/wait`);
    const logs = await a.engine.request('GET', `/containers/${linker}/logs?stdout=1&stderr=1`);
    expect(logs.text).toContain('linked');
    // a container on a network of its own: the engine refuses such a link on its bridge, and so does the proxy
    const net = await a.mallory.api.request('POST', '/networks/create', {
      body: { Name: `${a.run}-elsewhere`, Labels: { 'dockhand.test': a.run } },
    });
    expect(net.status, net.text).toBe(201);
    const elsewhere = await a.ownContainer(`${a.run}-elsewhere-db`, {
      HostConfig: { NetworkMode: `${a.run}-elsewhere` },
    });
    refused(
      await a.mallory.api.request('POST', '/containers/create', {
        body: { Image: 'busybox', HostConfig: { Links: [`${a.run}-elsewhere-db:db`] } },
      }),
      403,
      /Cannot link to .*-elsewhere-db, as it does not belong to the default network/,
    );
    await a.engine.request('DELETE', `/containers/${elsewhere}?force=1`);
  });

  it('a port named without its protocol is the same port to -P, as to the engine (found by review, stop 21)', async () => {
    const id = await a.ownContainer(`${a.run}-bare-port`, {
      ExposedPorts: { '80': {} },
      HostConfig: { PublishAllPorts: true, PortBindings: { '80': [{ HostPort: '' }] } },
    });
    expect((await a.inspect('containers', id)).json.HostConfig.PortBindings).toEqual({
      '80/tcp': [{ HostIp: malloryAddress, HostPort: '' }],
    });
  });

  it("a tenant publishes the host port another tenant holds, on its own address: it neither takes the other's port nor learns that it is taken, and its own second binding is refused as the engine refuses it (found by review, stop 21)", async () => {
    // the victim's port, asked for on 127.0.0.1 and ::1, where clients on the host look for localhost
    const squat = await a.mallory.api.request('POST', `/containers/create?name=${a.run}-squat`, {
      body: {
        Image: 'busybox',
        Cmd: ['sh', '-c', 'echo squat-page > /tmp/index.html && httpd -f -p 80 -h /tmp'],
        Labels: { 'dockhand.test': a.run },
        ExposedPorts: { '80/tcp': {} },
        HostConfig: {
          PortBindings: {
            '80/tcp': [
              { HostIp: '127.0.0.1', HostPort: String(victimPort) },
              { HostIp: '::1', HostPort: String(victimPort) },
            ],
          },
        },
      },
    });
    expect(squat.status, squat.text).toBe(201);
    // granted, as the engine grants a free port: on the attacker's own address, where no client looks for the
    // victim's (on one shared address, the start failed with `port is already allocated`, which told the attacker
    // the port was in use; a moment when the victim's container was recreated gave the attacker the port)
    const start = await a.mallory.api.request('POST', `/containers/${squat.json.Id}/start`);
    expect(start.status, start.text).toBe(204);
    const info = (await a.inspect('containers', squat.json.Id)).json;
    expect(info.NetworkSettings.Ports['80/tcp']).toEqual([
      { HostIp: malloryAddress, HostPort: String(victimPort) },
    ]);
    let page: string | undefined;
    for (let i = 0; i < 50 && page === undefined; i++) {
      page = await fetchText(`http://${malloryAddress}:${victimPort}/`);
      if (page === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(page).toBe('squat-page\n');
    // the victim's port is still the victim's, and nothing of the attacker's answers on localhost
    expect(await fetchText(`http://${victimAddress}:${victimPort}/`)).toBe('victim-page\n');
    expect(await fetchText(`http://127.0.0.1:${victimPort}/`)).not.toBe('squat-page\n');
    expect(await fetchText(`http://[::1]:${victimPort}/`)).not.toBe('squat-page\n');
    // the attacker's own second container on that port: refused by the engine, as on any engine
    const again = await a.ownContainer(`${a.run}-squat-again`, {
      ExposedPorts: { '80/tcp': {} },
      HostConfig: { PortBindings: { '80/tcp': [{ HostPort: String(victimPort) }] } },
    });
    const second = await a.mallory.api.request('POST', `/containers/${again}/start`);
    expect(second.status).toBe(500);
    expect(second.json.message).toMatch(/port is already allocated/);
  });
});
