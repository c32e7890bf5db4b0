/**
 * Test fixtures: the real docker CLI, labelled containers that are removed afterwards, free ports, raw
 * loopback clients and a log collector.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect as tcpConnect } from 'node:net';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { type Logger, pino } from 'pino';

const run = promisify(execFile);

/** Runs the docker CLI and returns its trimmed stdout. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/** A unique `dockhand.test=forwarder-<id>` label for one test file, and the cleanup for everything carrying it. */
export function testLabel(name: string): {
  label: string;
  key: string;
  value: string;
  cleanup(): Promise<void>;
} {
  const value = `forwarder-${name}-${randomBytes(4).toString('hex')}`;
  const label = `dockhand.test=${value}`;
  return {
    label,
    key: 'dockhand.test',
    value,
    async cleanup() {
      const ids = await docker('ps', '-aq', '--filter', `label=${label}`);
      if (ids) await docker('rm', '-f', '-v', ...ids.split('\n')).catch(() => {});
      const nets = await docker('network', 'ls', '-q', '--filter', `label=${label}`);
      if (nets) await docker('network', 'rm', ...nets.split('\n')).catch(() => {});
    },
  };
}

/** Starts a labelled container (`docker run -d --label <label> ...args`) and returns its id. */
export async function runContainer(label: string, ...args: string[]): Promise<string> {
  return docker('run', '-d', '--label', label, ...args);
}

/** `busybox httpd` serving `body` at `/`, as docker run arguments after the options. */
export function httpd(body: string): string[] {
  return [
    'busybox:latest',
    'sh',
    '-c',
    `mkdir -p /www && echo ${body} > /www/index.html && exec httpd -f -p 80 -h /www`,
  ];
}

/** The published host port of a container port (`80/tcp`). */
export async function hostPort(id: string, port: string): Promise<number> {
  const out = await docker('port', id, port);
  return Number(out.split('\n')[0]!.split(':').pop());
}

/**
 * A port free for TCP and UDP on 127.0.0.1, 127.0.0.2, 127.0.0.3 and ::1 right now, below the ephemeral
 * range (where the engine picks random host ports), so it does not collide with them.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '::1'];
    if ((await Promise.all(hosts.map((h) => isFree(h, port)))).every(Boolean)) return port;
  }
}

async function isFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** `GET /` over a fresh TCP connection (HTTP/1.0, no pooling); resolves to the body, rejects on any error. */
export function httpGet(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host, port });
    const chunks: Buffer[] = [];
    s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout')));
    s.on('connect', () => s.write(`GET / HTTP/1.0\r\nHost: localhost\r\n\r\n`));
    s.on('data', (c) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      const body = text.split('\r\n\r\n').slice(1).join('\r\n\r\n').trim();
      if (!text.startsWith('HTTP/')) reject(new Error(`not HTTP: ${JSON.stringify(text.slice(0, 50))}`));
      else resolve(body);
    });
  });
}

/** Polls `fn` until it resolves truthy, or throws after `timeoutMs`. Returns the elapsed milliseconds. */
export async function waitFor(
  fn: () => Promise<unknown> | unknown,
  timeoutMs: number,
  what = 'condition',
): Promise<number> {
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      if (await fn()) return Date.now() - start;
    } catch (err) {
      last = err;
    }
    if (Date.now() - start > timeoutMs) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A pino logger that keeps every line, parsed. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
      if (process.env.FORWARDER_TEST_LOG) process.stderr.write(chunk);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

/** Open file descriptors of this process. */
export async function openFds(): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir('/proc/self/fd')).length;
}
