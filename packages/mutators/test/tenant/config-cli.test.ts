// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the config format's ${VAR} substitution is what is tested
// `dockhand proxy --config <file>`: the built CLI, a YAML workshopTenant config with ${VAR} substitution, and
// the errors of a bad file. The config is the example of docs/configuration.md, which must hold it verbatim.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, eventually, inspectOnEngine, onEngine, type Tenant, unique } from './harness.ts';

const BIN = fileURLToPath(new URL('../../../cli/dist/bin.js', import.meta.url));
const CONFIG = fileURLToPath(new URL('workshop-tenant.yaml', import.meta.url));
const DOCS = fileURLToPath(new URL('../../../../docs/configuration.md', import.meta.url));

let t: Tenant;
let proxy: ChildProcess | undefined;
let foreign: string;

/** Runs the CLI to completion. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    c.stdout.on('data', (d) => {
      output += d;
    });
    c.stderr.on('data', (d) => {
      output += d;
    });
    const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

beforeAll(async () => {
  t = await createTenant({ proxy: false });
  await t.putFiles({ 'dev/db/1-create-schema.sql': 'CREATE TABLE t (id int);\n' });
  foreign = await onEngine('create', '--label', `dockhand.test=${t.testLabel}`, 'busybox:latest', 'true');
}, 60_000);

afterAll(async () => {
  proxy?.kill('SIGKILL');
  await t?.[Symbol.asyncDispose]();
}, 60_000);

it('docs/configuration.md shows the tested config verbatim', async () => {
  const [docs, config] = await Promise.all([readFile(DOCS, 'utf8'), readFile(CONFIG, 'utf8')]);
  expect(docs).toContain(`\`\`\`yaml\n${config}\`\`\``);
});

describe('dockhand proxy --config', () => {
  it('serves a tenant view from a YAML workshopTenant config with ${VAR} substitution', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LOG_LEVEL: 'info',
      DOCKHAND_LISTEN: t.socket,
      WORKSHOP_TENANT: t.name,
      PROJECT_DIR: t.projectDir,
      PROJECT_VOLUME: t.projectVolume,
      SOCKET_VOLUME: t.socketVolume,
    };
    delete env.DOCKER_HOST;
    proxy = spawn(process.execPath, [BIN, 'proxy', '--config', CONFIG], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    proxy.stderr!.on('data', (d) => {
      log += d;
    });
    await eventually('the proxy listens', async () => log.includes('proxy listening'), 15_000);

    const ps = await t.docker(['ps', '-a', '--no-trunc', '--format', '{{.ID}}']);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).not.toContain(foreign);

    const name = `cfg-${unique()}`;
    const created = await t.docker(
      ['create', '--name', name, '-v', '.:/data', 'busybox:latest', 'ls', '/data/dev/db'],
      {
        cwd: t.projectDir,
      },
    );
    expect(created.code, created.stderr).toBe(0);
    const c = await inspectOnEngine<{ Config: { Labels: Record<string, string> } }>('container', name);
    expect(c.Config.Labels['dockhand.tenant']).toBe(t.name);
    const run = await t.docker(['start', '-a', name]);
    expect(run.stdout).toBe('1-create-schema.sql\n');
    expect((await t.docker(['ps', '-a', '--format', '{{.Names}}'])).stdout.trim()).toBe(name);

    proxy.kill('SIGTERM');
    const [code] = await new Promise<[number | null]>((r) => proxy!.once('exit', (c) => r([c])));
    expect(code).toBe(0);
    proxy = undefined;
  }, 60_000);

  it.each([
    [
      'an unknown middleware type',
      (c: string) => c.replace('type: workshopTenant', 'type: workshopTennant'),
      /middleware\[0\]\.type: unknown middleware type 'workshopTennant'/,
    ],
    [
      'an unknown key',
      (c: string) => c.replace('socketPath: docker.sock', 'socketPaht: docker.sock'),
      /middleware\[0\]\.socketPaht: unknown key.*socketPaht/,
    ],
    [
      'a value of the wrong type',
      (c: string) => c.replace('socketPath: docker.sock', 'socketPath: [docker.sock]'),
      /middleware\[0\]\.socketPath: Invalid type: Expected string but received Array/,
    ],
    [
      'an unset variable',
      (c: string) => c.replace('${WORKSHOP_TENANT}', '${NO_SUCH_VARIABLE_HERE}'),
      /middleware\[0\]\.tenant: environment variable NO_SUCH_VARIABLE_HERE is not set/,
    ],
  ])('exits non-zero on %s, naming the file, the key and what is wrong', async (_what, edit, message) => {
    const file = join(t.projectDir, `bad-${unique()}.yaml`);
    await writeFile(file, edit(await readFile(CONFIG, 'utf8')));
    const out = await cli(['proxy', '--config', file], {
      ...process.env,
      DOCKHAND_LISTEN: join(t.projectDir, 'never.sock'),
      WORKSHOP_TENANT: t.name,
      PROJECT_VOLUME: t.projectVolume,
      SOCKET_VOLUME: t.socketVolume,
    });
    expect(out.code).toBe(2);
    expect(out.output).toContain(`${file}: middleware[0].`);
    expect(out.output).toMatch(message);
    expect(out.output).toContain('DOCKHAND_CONFIG_INVALID');
  });
});
