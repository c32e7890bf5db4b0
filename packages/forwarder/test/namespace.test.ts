import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { docker, hostPort, httpd, runContainer, testLabel, waitFor } from './docker.ts';

// The workshop's shape: the forwarder runs in the "IDE" container's network namespace, on the IDE's own
// network; tenant containers are on another network and publish on 0.0.0.0 (random ports). The default
// target mode must reach them (through the published port on the IDE network's gateway).
const t = testLabel('namespace');
const root = fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, '');
let ide = '';

/** Runs a fetch of http://localhost:<port>/ inside an IDE's namespace (the first IDE's by default). */
async function fetchInIde(port: number, container = ide): Promise<string> {
  return docker(
    'exec',
    container,
    'node',
    '-e',
    `fetch('http://localhost:${port}/',{signal:AbortSignal.timeout(2000)}).then(r=>r.text()).then(t=>console.log(t.trim()))`,
  );
}

/**
 * Starts an "IDE" container on `network` running the built forwarder (test/fixtures/forwarder-main.mjs) with the
 * given environment, and waits until it follows engine events.
 */
async function startIde(network: string, env: string[]): Promise<string> {
  const id = await runContainer(
    t.label,
    '--network',
    network,
    '-v',
    `${root}:${root}:ro`,
    '-v',
    '/var/run/docker.sock:/var/run/docker.sock',
    ...env.flatMap((e) => ['-e', e]),
    '-w',
    `${root}/packages/forwarder`,
    'node:24-bookworm-slim',
    'node',
    'test/fixtures/forwarder-main.mjs',
  );
  await waitFor(
    async () => (await docker('logs', id)).includes('forwarder following engine events'),
    20_000,
    `the forwarder in the IDE on ${network}`,
  );
  return id;
}

beforeAll(async () => {
  if (!existsSync(`${root}/packages/forwarder/dist/index.js`))
    throw new Error('build first: pnpm exec tsc -b packages/forwarder');
  await docker('network', 'create', '--label', t.label, `${t.value}-ide`);
  await docker('network', 'create', '--label', t.label, `${t.value}-tenant`);
  ide = await startIde(`${t.value}-ide`, [`FORWARDER_LABEL=${t.label}`]);
}, 60_000);
afterAll(async () => {
  if (ide) console.log((await docker('logs', ide).catch(() => '')).split('\n').slice(-20).join('\n'));
  await t.cleanup();
}, 60_000);

describe('the forwarder in a container namespace (workshop shape)', () => {
  test('a tenant container on another network, published on a random port, is reachable on localhost', async () => {
    const id = await runContainer(
      t.label,
      '--network',
      `${t.value}-tenant`,
      '-p',
      '0:80',
      ...httpd('hello-tenant'),
    );
    const port = await hostPort(id, '80/tcp');
    await waitFor(
      async () => (await fetchInIde(port)) === 'hello-tenant',
      15_000,
      'the tenant port in the IDE',
    );
    await docker('stop', '-t', '1', id);
    await waitFor(
      async () =>
        !(await fetchInIde(port).then(
          () => true,
          () => false,
        )),
      3000,
      'the port to close',
    );
  }, 60_000);

  test('testcontainers-node in the IDE namespace reaches its container through the forwarder', async () => {
    // Without the reaper here: this forwarder follows only containers labelled with the test's label, and the
    // reaper testcontainers starts cannot be given one. With the reaper on, through a tenant proxy (which labels
    // the reaper too), the workshop's end-to-end test covers it (examples/workshop/test, step 3).
    const out = await docker(
      'exec',
      '-e',
      'TESTCONTAINERS_HOST_OVERRIDE=localhost',
      '-e',
      'TESTCONTAINERS_RYUK_DISABLED=true',
      ide,
      'node',
      'test/fixtures/testcontainers-client.mjs',
      t.label,
    );
    const result = JSON.parse(out.split('\n').pop()!) as { url: string; text: string };
    expect(result.text).toBe('hello-testcontainers');
    expect(result.url).toMatch(/^http:\/\/localhost:\d+\/$/);
  }, 120_000);

  test('attachNetwork: a container on another network is connected to the IDE network and reached by its IP there', async () => {
    // a second IDE whose forwarder attaches what it forwards to its own network and targets container IPs only
    const net = `${t.value}-ide2`;
    await docker('network', 'create', '--label', t.label, net);
    const only = 'dockhand.attach-test=1';
    const ide2 = await startIde(net, [
      `FORWARDER_LABEL=${t.label},${only}`,
      `FORWARDER_ATTACH_NETWORK=${net}`,
      'FORWARDER_TARGET=network',
    ]);
    const id = await runContainer(
      t.label,
      '--label',
      only,
      '--network',
      `${t.value}-tenant`,
      '-p',
      '0:80',
      ...httpd('hello-attached'),
    );
    const port = await hostPort(id, '80/tcp');
    await waitFor(
      async () => (await fetchInIde(port, ide2).catch(() => '')) === 'hello-attached',
      15_000,
      'the port in IDE 2',
    );
    // the container is on the IDE network now, and the forwarder's target is its address there, not a published port
    const ip = await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, id);
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const opened = (await docker('logs', ide2))
      .split('\n')
      .filter((l) => l.includes('"msg":"port opened') && l.includes(`"port":${port}`))
      .map((l) => JSON.parse(l) as { target: string; via: string });
    expect(opened.length).toBeGreaterThan(0);
    for (const o of opened) expect(o).toMatchObject({ target: `${ip}:80`, via: 'network' });
  }, 90_000);
});
