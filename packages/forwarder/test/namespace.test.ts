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

/** Runs a fetch of http://localhost:<port>/ inside the IDE namespace. */
async function fetchInIde(port: number): Promise<string> {
  return docker(
    'exec',
    ide,
    'node',
    '-e',
    `fetch('http://localhost:${port}/',{signal:AbortSignal.timeout(2000)}).then(r=>r.text()).then(t=>console.log(t.trim()))`,
  );
}

beforeAll(async () => {
  if (!existsSync(`${root}/packages/forwarder/dist/index.js`))
    throw new Error('build first: pnpm exec tsc -b packages/forwarder');
  await docker('network', 'create', '--label', t.label, `${t.value}-ide`);
  await docker('network', 'create', '--label', t.label, `${t.value}-tenant`);
  ide = await runContainer(
    t.label,
    '--network',
    `${t.value}-ide`,
    '-v',
    `${root}:${root}:ro`,
    '-v',
    '/var/run/docker.sock:/var/run/docker.sock',
    '-e',
    `FORWARDER_LABEL=${t.label}`,
    '-w',
    `${root}/packages/forwarder`,
    'node:24-bookworm-slim',
    'node',
    'test/fixtures/forwarder-main.mjs',
  );
  await waitFor(
    async () => (await docker('logs', ide)).includes('forwarder following engine events'),
    20_000,
    'the forwarder in the IDE',
  );
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
});
