// A workshop tenant whose operator turned classic builds off (`workshopTenant({ classicBuilds: false })`): the
// classic builder is refused before its context is read, with a message that names the way out, and builds nothing;
// the docker CLI's default BuildKit build still works.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, client } from '../attacks/harness.ts';
import { createTenant, onEngine, pruneBuildCache, type Tenant } from './harness.ts';

let t: Tenant;
let context: string;
const marker = `classic-off-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  t = await createTenant({ extra: { classicBuilds: false } });
  context = await mkdtemp(join(tmpdir(), 'dockhand-classic-off-'));
  await writeFile(join(context, 'Dockerfile'), `FROM busybox:latest\nRUN echo ${marker} > /built\n`);
}, 120_000);

afterAll(async () => {
  // (and any image a build left under the tenant's label, should a refusal fail)
  const left = await onEngine('images', '-aq', '--filter', `label=dockhand.tenant=${t.name}`);
  const images = [`${t.name}-classic:1`, `${t.name}-buildkit:1`, ...left.split('\n').filter(Boolean)];
  await onEngine('image', 'rm', '-f', ...images).catch(() => {});
  await pruneBuildCache(marker);
  await t?.[Symbol.asyncDispose]();
  await rm(context, { recursive: true, force: true });
}, 120_000);

const apiVersion = await onEngine('version', '--format', '{{.Server.APIVersion}}');
const [major, minor] = apiVersion.split('.').map(Number) as [number, number];
// the preset refuses BuildKit where the engine has no source policies (before API 1.44)
const buildkit = major > 1 || minor >= 44;

describe('classic builds turned off (classicBuilds: false)', { timeout: 180_000 }, () => {
  it('refuses DOCKER_BUILDKIT=0 docker build with the way out, and builds nothing', async () => {
    const tag = `${t.name}-classic:1`;
    const out = await t.docker(['build', '-t', tag, context], { env: { DOCKER_BUILDKIT: '0' } });
    expect(out.code).not.toBe(0);
    expect(`${out.stdout}${out.stderr}`).toMatch(
      /classic builds \(DOCKER_BUILDKIT=0, or POST \/build without version=2\) are turned off here; build with BuildKit/,
    );
    await expect(onEngine('image', 'inspect', tag)).rejects.toThrow();
  });

  it('answers a raw classic /build inside a 200 stream, as the engine reports a failed build', async () => {
    const api = client(t.socket);
    try {
      for (const query of [`t=${t.name}-classic:1`, 'version=1', 'version=1&version=2', 'version=']) {
        const { reply, id } = await build(api, query, `FROM busybox:latest\nRUN echo ${marker}\n`);
        expect(reply.status, query).toBe(200);
        expect(reply.text, query).toMatch(/"errorDetail":\{"message":"classic builds .* are turned off here/);
        expect(id, query).toBeUndefined();
      }
    } finally {
      await api.pool.destroy();
    }
  });

  it('refuses /build?version=2 without sending the client to the classic builder alone', async () => {
    const api = client(t.socket);
    try {
      const { reply, id } = await build(api, 'version=2', 'FROM busybox:latest\n');
      expect(id).toBeUndefined();
      expect(reply.text).toMatch(
        /use docker buildx \(the default docker build\), or a classic build \(DOCKER_BUILDKIT=0\) where this workshop allows it/,
      );
    } finally {
      await api.pool.destroy();
    }
  });

  it.runIf(buildkit)('still builds with BuildKit, the docker CLI default, as the tenant', async () => {
    const tag = `${t.name}-buildkit:1`;
    const out = await t.docker(['build', '--progress=plain', '-t', tag, context], {
      // a fresh DOCKER_CONFIG: the default builder of the docker driver, whatever this machine's config says
      env: { DOCKER_CONFIG: context, DOCKER_BUILDKIT: '1' },
    });
    expect(out.code, out.stderr).toBe(0);
    expect(
      await onEngine('image', 'inspect', '--format', '{{index .Config.Labels "dockhand.tenant"}}', tag),
    ).toBe(t.name);
  });
});
