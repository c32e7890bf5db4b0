// BuildKit builds (`docker build` with the CLI's default builder, over the hijacked `/grpc` connection) through
// the workshop tenant proxy: the image gets the tenant label, another tenant does not see it, and builds that
// ask for host networking or act on everyone's build cache are refused.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, onEngine, type Tenant } from './harness.ts';

let alice: Tenant;
let bob: Tenant;
let context: string;
const images: string[] = [];

beforeAll(async () => {
  [alice, bob] = await Promise.all([createTenant(), createTenant()]);
  context = await mkdtemp(join(tmpdir(), 'dockhand-buildkit-'));
}, 120_000);

afterAll(async () => {
  if (images.length) await onEngine('image', 'rm', '-f', ...images).catch(() => {});
  await Promise.all([alice?.[Symbol.asyncDispose](), bob?.[Symbol.asyncDispose]()]);
  await rm(context, { recursive: true, force: true });
}, 120_000);

async function build(t: Tenant, tag: string, dockerfile: string, extra: string[] = []) {
  await writeFile(join(context, 'Dockerfile'), dockerfile);
  images.push(tag);
  // a fresh DOCKER_CONFIG: the default builder of the docker driver, whatever this machine's config says
  return t.docker(['build', '--progress=plain', ...extra, '-t', tag, context], {
    env: { DOCKER_CONFIG: context, DOCKER_BUILDKIT: '1' },
  });
}

describe('BuildKit builds through the tenant proxy (buildkitGuard)', () => {
  it('labels the image with the tenant, over a Dockerfile LABEL that claims another tenant', async () => {
    const tag = `${alice.name}-app:1`;
    const out = await build(
      alice,
      tag,
      `FROM busybox:latest\nRUN echo built > /built\nLABEL dockhand.tenant=${bob.name} dockhand.test=${alice.testLabel}\n`,
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(/naming to .*app:1/);
    const labels = JSON.parse(await onEngine('image', 'inspect', '-f', '{{json .Config.Labels}}', tag));
    expect(labels['dockhand.tenant']).toBe(alice.name);

    const mine = await alice.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(mine.stdout.split('\n')).toContain(tag);
    const theirs = await bob.docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    expect(theirs.code).toBe(0);
    expect(theirs.stdout.split('\n')).not.toContain(tag);
    const inspect = await bob.docker(['image', 'inspect', tag]);
    expect(inspect.code).not.toBe(0);
    expect(inspect.stderr).toMatch(/No such image/);

    // and the tenant can run and delete its own build
    const run = await alice.docker(['run', '--rm', tag, 'cat', '/built']);
    expect(run.stdout.trim()).toBe('built');
    const del = await alice.docker(['image', 'rm', tag]);
    expect(del.code, del.stderr).toBe(0);
  }, 180_000);

  it('refuses a build that asks for the network.host entitlement, and builds nothing', async () => {
    const tag = `${alice.name}-hostnet:1`;
    const out = await build(alice, tag, 'FROM busybox:latest\nRUN --network=host true\n', [
      '--allow',
      'network.host',
    ]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/entitlement network\.host is not allowed here/);
    await expect(onEngine('image', 'inspect', tag)).rejects.toThrow();
  }, 180_000);

  it("refuses pruning everyone's build cache through BuildKit", async () => {
    const out = await alice.docker(['buildx', 'prune', '-f'], { env: { DOCKER_CONFIG: context } });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/not allowed here/);
  }, 60_000);
});
