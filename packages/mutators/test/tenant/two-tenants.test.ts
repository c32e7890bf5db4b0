// Two tenants on one engine, each through its own workshopTenant proxy, at the same time: each creates, lists,
// inspects and removes hundreds of objects, and never sees or touches the other's.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTenant, onEngine, pool, type Tenant, unique } from './harness.ts';

const CONTAINERS = 150;
const VOLUMES = 30;
const NETWORKS = 30;
const PARALLEL = 8;

interface Objects {
  containers: { name: string; id: string }[];
  volumes: string[];
  networks: { name: string; id: string }[];
}

let a: Tenant;
let b: Tenant;
const events = new Map<Tenant, { child: ChildProcess; out: string }>();

beforeAll(async () => {
  // 60 networks would exhaust the engine's default address pools (31 networks), so each is given a subnet under
  // 10.0.0.0/8, which the tenants are configured to allow (hostGuard refuses explicit subnets by default)
  const extra = { networkSubnets: ['10.0.0.0/8'] };
  [a, b] = await Promise.all([createTenant({ extra }), createTenant({ extra })]);
  // `docker events` of each tenant, running through the whole test
  for (const t of [a, b]) {
    const child = spawn('docker', ['events', '--format', '{{json .}}'], {
      env: { ...process.env, DOCKER_HOST: t.dockerHost },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const entry = { child, out: '' };
    child.stdout.on('data', (c) => {
      entry.out += c;
    });
    events.set(t, entry);
  }
}, 60_000);

afterAll(async () => {
  for (const { child } of events.values()) child.kill('SIGKILL');
  await Promise.all([a?.[Symbol.asyncDispose](), b?.[Symbol.asyncDispose]()]);
}, 180_000);

async function ok(t: Tenant, args: string[]): Promise<string> {
  const out = await t.docker(args);
  if (out.code !== 0) throw new Error(`docker ${args.join(' ')} (tenant ${t.name}): ${out.stderr}`);
  return out.stdout.trim();
}

/** The engine's default address pools hold ~30 bridge networks: each tenant's get /24s of its own 10.x/16. */
const octets = (() => {
  const x = 100 + Math.floor(Math.random() * 150);
  return [x, x + 1];
})();

async function createAll(t: Tenant, octet: number): Promise<Objects> {
  const tag = unique();
  const l = ['--label', `dockhand.test=${t.testLabel}`];
  const [containers, volumes, networks] = await Promise.all([
    pool(
      Array.from({ length: CONTAINERS }, (_, i) => `c-${tag}-${i}`),
      PARALLEL,
      async (name) => ({
        name,
        id: await ok(t, ['create', ...l, '--name', name, 'busybox:latest', 'true']),
      }),
    ),
    pool(
      Array.from({ length: VOLUMES }, (_, i) => `v-${tag}-${i}`),
      2,
      async (name) => ok(t, ['volume', 'create', ...l, name]),
    ),
    pool(
      Array.from({ length: NETWORKS }, (_, i) => `n-${tag}-${i}`),
      2,
      async (name) => ({
        name,
        id: await ok(t, [
          'network',
          'create',
          ...l,
          '--subnet',
          `10.${octet}.${name.split('-').pop()}.0/24`,
          name,
        ]),
      }),
    ),
  ]);
  return { containers, volumes, networks };
}

const lines = (s: string) => s.split('\n').filter(Boolean).sort();

/** What the engine itself answers (docker CLI, straight on the engine) for a missing object, as a template. */
async function missingWording(args: string[]): Promise<(ref: string) => string> {
  const fake = `missing${unique()}`;
  const out = await new Promise<string>((resolve) => {
    const c = spawn('docker', [...args, fake], { env: { ...process.env } });
    let err = '';
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('close', () => resolve(err.trim()));
  });
  // one line per reference (`docker network rm` adds a final `exit status 1`, once)
  const line = out.split('\n').find((l) => l.includes(fake));
  expect(line).toBeDefined();
  return (ref) => line!.replaceAll(fake, ref);
}

async function checkIsolation(t: Tenant, own: Objects, other: Objects): Promise<void> {
  // lists hold exactly the tenant's own objects
  expect(lines(await ok(t, ['ps', '-aq', '--no-trunc']))).toEqual(own.containers.map((c) => c.id).sort());
  expect(lines(await ok(t, ['volume', 'ls', '-q']))).toEqual([...own.volumes].sort());
  expect(lines(await ok(t, ['network', 'ls', '-q', '--no-trunc']))).toEqual(
    own.networks.map((n) => n.id).sort(),
  );
  // its own objects inspect by name
  const inspected = JSON.parse(await ok(t, ['container', 'inspect', ...own.containers.map((c) => c.name)]));
  expect(inspected.map((c: { Id: string }) => c.Id).sort()).toEqual(own.containers.map((c) => c.id).sort());
  expect(JSON.parse(await ok(t, ['volume', 'inspect', ...own.volumes]))).toHaveLength(VOLUMES);
  expect(JSON.parse(await ok(t, ['network', 'inspect', ...own.networks.map((n) => n.name)]))).toHaveLength(
    NETWORKS,
  );

  // the other's: by name, id prefix and full id, inspect and rm answer what the daemon says of a missing one
  const refs = {
    container: other.containers.flatMap((c) => [c.name, c.id.slice(0, 12), c.id]),
    network: other.networks.flatMap((n) => [n.name, n.id.slice(0, 12), n.id]),
    volume: other.volumes,
  };
  const cases: [string[], string[]][] = [
    [['container', 'inspect'], refs.container],
    [['rm'], refs.container],
    [['network', 'inspect'], refs.network],
    [['network', 'rm'], refs.network],
    [['volume', 'inspect'], refs.volume],
    [['volume', 'rm'], refs.volume],
  ];
  for (const [args, list] of cases) {
    const out = await t.docker([...args, ...list]);
    expect(out.code, `docker ${args.join(' ')}`).not.toBe(0);
    expect(out.stdout.trim()).toMatch(/^(\[\]|)$/);
    const wording = await missingWording(args);
    const expected = list.map(wording);
    expect(
      lines(out.stderr).filter((l) => !/^exit status \d+$/.test(l)),
      `docker ${args.join(' ')} of the other tenant's objects`,
    ).toEqual(lines(expected.join('\n')));
  }
}

it('two tenants at once: each sees, inspects and removes only its own objects, and no events of the other', async () => {
  // 1. both create, at the same time
  const [ownA, ownB] = await Promise.all([createAll(a, octets[0]!), createAll(b, octets[1]!)]);

  // 2. both list, inspect, and try the other's objects, at the same time
  await Promise.all([checkIsolation(a, ownA, ownB), checkIsolation(b, ownB, ownA)]);

  // nothing of either was touched by the other's attempts
  for (const [t, own] of [
    [a, ownA],
    [b, ownB],
  ] as const) {
    const f = `label=dockhand.tenant=${t.name}`;
    expect(lines(await onEngine('ps', '-aq', '--no-trunc', '--filter', f))).toEqual(
      own.containers.map((c) => c.id).sort(),
    );
    expect(lines(await onEngine('volume', 'ls', '-q', '--filter', f))).toEqual([...own.volumes].sort());
    expect(lines(await onEngine('network', 'ls', '-q', '--no-trunc', '--filter', f))).toEqual(
      own.networks.map((n) => n.id).sort(),
    );
  }

  // 3. both remove everything, at the same time
  await Promise.all(
    [
      [a, ownA],
      [b, ownB],
    ].map(async ([t, own]) => {
      const tt = t as Tenant;
      const o = own as Objects;
      await pool(
        Array.from({ length: Math.ceil(o.containers.length / 25) }, (_, i) =>
          o.containers.slice(i * 25, i * 25 + 25),
        ),
        3,
        (chunk) => ok(tt, ['rm', ...chunk.map((c) => c.id.slice(0, 12))]),
      );
      await ok(tt, ['network', 'rm', ...o.networks.map((n) => n.name)]);
      await ok(tt, ['volume', 'rm', ...o.volumes]);
      expect(await ok(tt, ['ps', '-aq'])).toBe('');
      expect(await ok(tt, ['volume', 'ls', '-q'])).toBe('');
      expect(await ok(tt, ['network', 'ls', '-q'])).toBe('');
    }),
  );

  // 4. each one's event stream showed its own objects and none of the other's
  await new Promise((r) => setTimeout(r, 1000));
  for (const [t, own, other] of [
    [a, ownA, ownB],
    [b, ownB, ownA],
  ] as const) {
    const seen = lines(events.get(t)!.out).map(
      (l) =>
        JSON.parse(l) as {
          Type: string;
          Action: string;
          Actor: { ID: string; Attributes?: Record<string, string> };
        },
    );
    const foreign = new Set([
      ...other.containers.flatMap((c) => [c.id, c.name]),
      ...other.networks.flatMap((n) => [n.id, n.name]),
      ...other.volumes,
    ]);
    const leaked = seen.filter(
      (e) => foreign.has(e.Actor.ID) || Object.values(e.Actor.Attributes ?? {}).some((v) => foreign.has(v)),
    );
    expect(leaked, `events of ${t.name}`).toEqual([]);
    for (const e of seen.filter((e) => e.Type === 'container'))
      expect(e.Actor.Attributes?.['dockhand.tenant']).toBe(t.name);
    const ownIds = new Set(own.containers.map((c) => c.id));
    const creates = seen.filter(
      (e) => e.Type === 'container' && e.Action === 'create' && ownIds.has(e.Actor.ID),
    );
    expect(creates).toHaveLength(CONTAINERS);
  }
}, 200_000);
