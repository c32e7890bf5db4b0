import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixtureDocs } from './fixtures/docs.ts';

const WORKSPACE = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url));

describe('dockhand instructions', () => {
  let child: ChildProcess;
  let url: string;
  const received: unknown[] = [];
  const terminal = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString()));
      res.end();
    });
  });

  let docs: string;

  beforeAll(async () => {
    docs = await writeFixtureDocs(await mkdtemp(join(tmpdir(), 'dockhand-cli-')));
    // The CLI is another package: build it (incrementally) so this runs the real `dockhand` command.
    const tsc = createRequire(`${WORKSPACE}package.json`).resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-b', 'packages/cli'], { cwd: WORKSPACE, stdio: 'inherit' });
    terminal.listen(0, '127.0.0.1');
    await once(terminal, 'listening');
    const runUrl = `http://127.0.0.1:${(terminal.address() as AddressInfo).port}/terminal`;
    child = spawn(
      process.execPath,
      [
        BIN,
        'instructions',
        '--root',
        docs,
        '--port',
        '0',
        '--var',
        'PORT=9999',
        '--run-url',
        runUrl,
        '--no-watch',
      ],
      { env: { ...process.env, DOCKHAND_VAR_IDE_URL: 'http://from-env:8443', DOCKHAND_VAR_PORT: 'lost' } },
    );
    url = await new Promise<string>((resolve, reject) => {
      let log = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        const found = /"url":"([^"]+)"/.exec(log);
        if (found?.[1]) resolve(found[1]);
      });
      child.once('exit', (code) => reject(new Error(`dockhand exited with ${code}: ${log}`)));
    });
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    terminal.close();
    if (docs) await rm(docs, { recursive: true, force: true });
  });

  it('serves the folder with variables from the environment and --var', async () => {
    const body = await (await fetch(`${url}/`)).text();
    expect(body).toContain('http://from-env:8443');
    expect(body).toContain('port 9999');
    expect(body).toContain('data-run="hook"');
  });

  it('sends "run in terminal" commands to --run-url', async () => {
    const response = await fetch(`${url}/_dockhand/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ page: '/setup', block: 0 }),
    });
    expect(response.status).toBe(200);
    expect(received).toEqual([
      { command: 'docker run --rm hello-world', page: '/setup', file: 'setup.md', block: 0 },
    ]);
  });

  it('stops on SIGTERM', async () => {
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });
});
