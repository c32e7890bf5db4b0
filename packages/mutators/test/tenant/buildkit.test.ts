// BuildKit builds (`docker build` with the CLI's default builder, over the hijacked `/grpc` connection) through
// the workshop tenant proxy: the image gets the tenant label, another tenant does not see it, and builds that
// ask for host networking or act on everyone's build cache are refused.
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarOf } from '../attacks/harness.ts';
import { createTenant, hostOnlyServer, onEngine, pruneBuildCache, type Tenant, unique } from './harness.ts';

let alice: Tenant;
let bob: Tenant;
let context: string;
const images: string[] = [];
/** Texts in the steps of this suite's builds: their build cache records are removed once the images are. */
const markers: string[] = [];

beforeAll(async () => {
  [alice, bob] = await Promise.all([createTenant(), createTenant()]);
  context = await mkdtemp(join(tmpdir(), 'dockhand-buildkit-'));
}, 120_000);

afterAll(async () => {
  if (images.length) await onEngine('image', 'rm', '-f', ...images).catch(() => {});
  for (const marker of markers) await pruneBuildCache(marker);
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

// BuildKit enforces the image limit with a source policy, which it knows from v0.12 (Engine 25, API 1.44) on
const apiVersion = await onEngine('version', '--format', '{{.Server.APIVersion}}');
const [major, minor] = apiVersion.split('.').map(Number) as [number, number];
const sourcePolicies = major > 1 || minor >= 44;

describe.runIf(!sourcePolicies)('BuildKit on an engine without source policies', () => {
  // (the CLI 28 does not build with such an engine's own BuildKit: it asks for a docker-container builder, which
  // needs an image from Docker Hub; so the refusal is shown on the /grpc request that BuildKit clients send)
  it('refuses the BuildKit connection with a message that names the way out', async () => {
    const s = connect(alice.socket);
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.write('POST /grpc HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
    await once(s, 'close');
    const response = Buffer.concat(chunks).toString();
    expect(response).toMatch(/^HTTP\/1\.1 403 /);
    expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)).message).toMatch(
      /BuildKit builds are not available on this engine.*DOCKER_BUILDKIT=0/,
    );
  });
});

describe.runIf(sourcePolicies)('BuildKit builds through the tenant proxy (buildkitGuard)', () => {
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

  it('refuses a build tagged with a name a shared image holds, which stays where it was', async () => {
    const shared = `${alice.name}-shared-name:latest`;
    await onEngine('tag', 'busybox:latest', shared);
    try {
      const before = await onEngine('image', 'inspect', '--format', '{{.Id}}', shared);
      // found by review (stop 17): the engine reads docker.io/x and index.docker.io/library/x as x
      for (const name of [shared, `docker.io/${shared}`, `index.docker.io/library/${shared}`]) {
        const out = await build(alice, name, 'FROM busybox:latest\nRUN echo mine > /mine\n');
        expect(out.code, name).not.toBe(0);
        expect(out.stderr).toMatch(/belongs to an image you did not build/);
        expect(await onEngine('image', 'inspect', '--format', '{{.Id}}', shared)).toBe(before);
      }
    } finally {
      await onEngine('image', 'rm', shared).catch(() => {});
    }
  }, 180_000);

  it('gives a build its name when it ends, checked then: a name another tenant took while it ran stays theirs', async () => {
    // found by review (stop 19): the engine tagged the name at the end, whatever it had become meanwhile
    const name = `${alice.name}-race:1`;
    const own = `${alice.name}-race-own:1`;
    expect((await build(alice, own, 'FROM busybox:latest\nRUN echo alice > /who\n')).code).toBe(0);
    const aliceId = await onEngine('image', 'inspect', '--format', '{{.Id}}', own);
    const marker = `bob-running-${unique()}`;
    markers.push(marker);
    await writeFile(join(context, 'Dockerfile'), `FROM busybox:latest\nRUN echo ${marker} && sleep 6\n`);
    images.push(name);
    let tagged: Promise<unknown> | undefined;
    // bob's build is past its start (the name was free then) when alice takes the name
    const bobs = await bob.docker(['build', '--progress=plain', '-t', name, context], {
      env: { DOCKER_CONFIG: context, DOCKER_BUILDKIT: '1' },
      onStderr: (text) => {
        if (tagged === undefined && text.includes(`${marker}\n`)) tagged = alice.docker(['tag', own, name]);
      },
    });
    expect(tagged).toBeDefined();
    expect((await tagged) as { code: number }).toMatchObject({ code: 0 });
    expect(bobs.code).not.toBe(0);
    const built = /your image is (sha256:[0-9a-f]{64})/.exec(bobs.stderr)?.[1];
    expect(built, bobs.stderr).toBeDefined();
    images.push(built!);
    expect(bobs.stderr).toMatch(/was given to an image you did not build while yours was being made/);
    expect(bobs.stderr).not.toMatch(/naming to/);
    expect(await onEngine('image', 'inspect', '--format', '{{.Id}}', name)).toBe(aliceId);
  }, 180_000);

  it("refuses a build named as one of the workshop's own images (found by review, stop 20)", async () => {
    const out = await build(
      alice,
      'dockhand-workshop/dockhand:next',
      'FROM busybox:latest\nRUN echo mine > /m\n',
    );
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/reserved for the workshop's own images/);
    expect(await onEngine('image', 'inspect', 'dockhand-workshop/dockhand:next').catch(() => 'missing')).toBe(
      'missing',
    );
  }, 180_000);

  it('refuses a build with --add-host, as /build refuses extrahosts, and builds nothing', async () => {
    const tag = `${alice.name}-addhost:1`;
    const out = await build(alice, tag, 'FROM busybox:latest\nRUN cat /etc/hosts\n', [
      '--add-host',
      'evil.example:10.9.9.9',
    ]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/--add-host\) are not allowed on builds here/);
    await expect(onEngine('image', 'inspect', tag)).rejects.toThrow();
  }, 180_000);

  it("refuses --push to a registry on the engine's host: the CLI pushes through the engine's push API", async () => {
    await using registry = await hostOnlyServer();
    const tag = `127.0.0.1:${registry.port}/${alice.name}-push:1`;
    const out = await build(alice, tag, 'FROM busybox:latest\nRUN echo pushed > /x\n', ['--push']);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/is on the engine's host/);
    expect(registry.seen()).toBe(0);
  }, 180_000);

  it("a build with --pull does not reach a registry on the engine's host through a tag of the tenant's own (found by review, stop 21)", async () => {
    await using registry = await hostOnlyServer();
    // alice's own image, tagged with a registry on the engine's host: a tag is the tenant's to give
    const base = `${alice.name}-pullbase:1`;
    const marker = unique();
    markers.push(marker);
    const built = await build(alice, base, `FROM busybox:latest\nRUN echo base-${marker} > /x\n`);
    expect(built.code, built.stderr).toBe(0);
    const hostTag = `127.0.0.1:${registry.port}/${alice.name}/probe:1`;
    images.push(hostTag);
    expect((await alice.docker(['tag', base, hostTag])).code).toBe(0);
    // BuildKit resolves FROM in pull mode against the name's registry, which the source policy allowed
    const out = await build(alice, `${alice.name}-pulled:1`, `FROM ${hostTag}\nRUN echo ${marker}\n`, [
      '--pull',
    ]);
    expect(out.code).not.toBe(0);
    expect(registry.seen(), out.stderr).toBe(0);
    expect(out.stderr).toMatch(/source denied by policy/);
  }, 180_000);

  it('refuses build cache imports, in each form the CLI sends them (found by review: they serve every tenant)', async () => {
    await using registry = await hostOnlyServer();
    // an image of alice's own, whose inline cache she could have forged
    const own = `${alice.name}-cachesource:1`;
    const marker = unique();
    markers.push(marker);
    const built = await build(alice, own, `FROM busybox:latest\nRUN echo source-${marker} > /x\n`);
    expect(built.code, built.stderr).toBe(0);
    for (const from of [
      `type=registry,ref=127.0.0.1:${registry.port}/${alice.name}/cache`,
      `localhost:${registry.port}/${alice.name}/cache:1`,
      'busybox:latest',
      own,
    ]) {
      const tag = `${alice.name}-cachefrom:1`;
      const out = await build(alice, tag, 'FROM busybox:latest\nRUN echo cached > /x\n', [
        '--cache-from',
        from,
      ]);
      expect(out.code, `--cache-from ${from}`).not.toBe(0);
      expect(out.stderr).toMatch(/build cache imports \(--cache-from\) are not allowed here/);
      await expect(onEngine('image', 'inspect', tag)).rejects.toThrow();
    }
    expect(registry.seen()).toBe(0);
  }, 180_000);

  it("shows none of another tenant's build steps in the build cache (docker buildx du)", async () => {
    const marker = `bob-secret-${unique()}`;
    markers.push(marker);
    const built = await build(bob, `${bob.name}-du:1`, `FROM busybox:latest\nRUN echo ${marker} > /s\n`);
    expect(built.code, built.stderr).toBe(0);
    // the engine itself lists the step, with its command
    expect(await onEngine('buildx', 'du', '--verbose')).toContain(marker);
    const du = await alice.docker(['buildx', 'du', '--verbose'], { env: { DOCKER_CONFIG: context } });
    expect(du.code, du.stderr).toBe(0);
    expect(du.stdout).not.toContain(marker);
    expect(du.stdout).not.toMatch(/^ID:/m);
  }, 180_000);

  it("gives each tenant cache mounts of its own: another tenant's RUN --mount=type=cache is not seen", async () => {
    const marker = unique();
    const target = `/cache-${marker}`;
    markers.push(marker);
    const write = (who: string) =>
      `FROM busybox:latest\nRUN --mount=type=cache,target=${target} echo ${who}-${marker} >> ${target}/seen; cat ${target}/seen\n`;
    const bobs = await build(bob, `${bob.name}-cachemount:1`, write('bob'));
    expect(bobs.code, bobs.stderr).toBe(0);
    const first = await build(alice, `${alice.name}-cachemount:1`, write('alice'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(`alice-${marker}`);
    expect(first.stderr).not.toContain(`bob-${marker}`);
    // the tenant's own cache mount is kept between its builds
    const second = await build(alice, `${alice.name}-cachemount:2`, write('alice-again'));
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(new RegExp(`alice-${marker}[\\s\\S]*alice-again-${marker}`));
    expect(second.stderr).not.toContain(`bob-${marker}`);
  }, 240_000);

  it("gives each tenant a build cache of its own: another tenant's identical RUN step runs again", async () => {
    const marker = unique();
    markers.push(marker);
    // a step whose output only its run knows: a secret it made, as a key generator's
    const dockerfile = `FROM busybox:latest\nRUN echo ${marker} > /m && head -c 16 /dev/urandom | od -An -tx1 > /secret\n`;
    const layers = async (tag: string) =>
      JSON.parse(await onEngine('image', 'inspect', '-f', '{{json .RootFS.Layers}}', tag)) as string[];
    const first = await build(alice, `${alice.name}-layercache:1`, dockerfile);
    expect(first.code, first.stderr).toBe(0);
    // the tenant's own cache is kept: her second build takes the step from it
    const again = await build(alice, `${alice.name}-layercache:2`, dockerfile);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/#\d+ \[2\/2\] RUN echo[^\n]*\n#\d+ CACHED/);
    expect(await layers(`${alice.name}-layercache:2`)).toEqual(await layers(`${alice.name}-layercache:1`));
    // bob's identical step is run again, with a secret of its own
    const theirs = await build(bob, `${bob.name}-layercache:1`, dockerfile);
    expect(theirs.code, theirs.stderr).toBe(0);
    expect(theirs.stderr).not.toMatch(/#\d+ \[2\/2\] RUN echo[^\n]*\n#\d+ CACHED/);
    expect((await layers(`${bob.name}-layercache:1`)).at(-1)).not.toBe(
      (await layers(`${alice.name}-layercache:1`)).at(-1),
    );
  }, 240_000);

  it('builds with the engine’s own Dockerfile frontend: a # syntax= line does not run an image as the frontend', async () => {
    const marker = unique();
    markers.push(marker);
    // busybox is no frontend: had it been run as one, the build would fail
    const out = await build(
      alice,
      `${alice.name}-syntax:1`,
      `# syntax=busybox:latest\nFROM busybox:latest\nRUN echo built-by-the-engine-${marker}\n`,
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain(`built-by-the-engine-${marker}`);
    expect(out.stderr).not.toMatch(
      /resolve image config for docker-image:\/\/docker\.io\/library\/busybox:latest/,
    );
  }, 180_000);

  // found by review (stop 26): the proxy showed `naming to docker.io/library/<name>:latest`, and gave that as the
  // image's name in the build's metadata, where the engine's exporter shows and gives the name as it was tagged
  it('names an untagged build as the engine does, in its progress and its metadata', async () => {
    const name = `${alice.name}-untagged`;
    const meta = join(context, 'meta.json');
    const out = await build(alice, name, `FROM busybox:latest\nLABEL x=${unique()}\n`, [
      '--metadata-file',
      meta,
    ]);
    expect(out.code, out.stderr).toBe(0);
    // the proxy shows the names where the engine's exporter shows that it wrote the image; once, in CI, the
    // exporter's statuses did not come at all (no `exporting layers`, no `writing image`), and no name with them
    if (out.stderr.includes('writing image sha256:'))
      expect(out.stderr).toMatch(new RegExp(`naming to docker\\.io/library/${name} done`));
    expect(JSON.parse(await readFile(meta, 'utf8'))['image.name']).toBe(`docker.io/library/${name}`);
  }, 180_000);

  // found by review (stop 26): the context came as `http://buildkit-session/<id>`, which the policy denied
  it('builds a context the client uploads over its session (docker build - < context.tar)', async () => {
    const marker = unique();
    markers.push(marker);
    const tag = `${alice.name}-stdin:1`;
    images.push(tag);
    const tar = await tarOf({
      Dockerfile: `FROM busybox:latest\nCOPY hello /hello\nRUN echo ${marker}\n`,
      hello: 'hi',
    });
    const out = await alice.docker(['build', '--progress=plain', '-t', tag, '-'], {
      input: tar,
      env: { DOCKER_CONFIG: context, DOCKER_BUILDKIT: '1' },
    });
    expect(out.code, out.stderr).toBe(0);
    expect(
      await onEngine('image', 'inspect', '--format', '{{index .Config.Labels "dockhand.tenant"}}', tag),
    ).toBe(alice.name);
  }, 180_000);

  it('refuses ADD of a URL or a git repository, which BuildKit would fetch from the host network', async () => {
    for (const [i, src] of [
      'http://127.0.0.1:9/secret',
      'https://127.0.0.1:9/repo.git',
      // the session's host with a port is a network host to BuildKit
      'http://buildkit-session:9/secret',
    ].entries()) {
      const tag = `${alice.name}-add${i}:1`;
      const out = await build(alice, tag, `FROM busybox:latest\nADD ${src} /x\n`);
      expect(out.code).not.toBe(0);
      expect(out.stderr).toMatch(/source denied by policy/);
      await expect(onEngine('image', 'inspect', tag)).rejects.toThrow();
    }
  }, 180_000);

  it("refuses a build FROM another tenant's image, by tag, id or pinned digest, and allows the tenant's own", async () => {
    const bobs = `${bob.name}-base:1`;
    const built = await build(
      bob,
      bobs,
      `FROM busybox:latest\nRUN echo secret > /secret\nLABEL dockhand.test=${bob.testLabel}\n`,
    );
    expect(built.code, built.stderr).toBe(0);
    const bobId = await onEngine('image', 'inspect', '-f', '{{.Id}}', bobs);
    for (const from of [bobs, `${bobs}@${bobId}`, `busybox:latest@${bobId}`, `busybox@${bobId}`, bobId]) {
      const tag = `${alice.name}-steal:1`;
      const out = await build(alice, tag, `FROM ${from}\nRUN cat /secret\n`);
      expect(out.code, `FROM ${from} was built:\n${out.stderr}`).not.toBe(0);
      expect(out.stderr, `FROM ${from}`).toMatch(/source denied by policy/);
      await expect(onEngine('image', 'inspect', tag)).rejects.toThrow();
    }
    // COPY --from names an image source too
    const copy = await build(
      alice,
      `${alice.name}-copy:1`,
      `FROM busybox:latest\nCOPY --from=${bobs} /secret /s\n`,
    );
    expect(copy.code).not.toBe(0);
    expect(copy.stderr).toMatch(/denied/i);

    // the tenant's own build and the base images are fine
    const own = `${alice.name}-own:1`;
    expect(
      (
        await build(
          alice,
          own,
          `FROM busybox:latest\nRUN echo mine > /mine\nLABEL dockhand.test=${alice.testLabel}\n`,
        )
      ).code,
    ).toBe(0);
    const layered = await build(
      alice,
      `${alice.name}-layered:1`,
      `FROM ${own}\nCOPY --from=busybox:latest /bin/true /true\nRUN cat /mine\nLABEL dockhand.test=${alice.testLabel}\n`,
    );
    expect(layered.code, layered.stderr).toBe(0);
    expect(layered.stderr).toMatch(/mine/);
  }, 300_000);

  it("refuses pruning everyone's build cache through BuildKit", async () => {
    const out = await alice.docker(['buildx', 'prune', '-f'], { env: { DOCKER_CONFIG: context } });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/not allowed here/);
  }, 60_000);
});
