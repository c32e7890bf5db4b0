// The benchmarks' zero-copy reference (splice-relay.c): built with the machine's C compiler on first use and
// started as a child process. Where it cannot be built or started (no compiler, not Linux), the benchmarks leave
// it out: starting it never throws.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('./splice-relay.c', import.meta.url));

/** A running splice relay. */
export interface SpliceRelay {
  readonly process: ChildProcess;
  stop(): void;
}

function leaveOut(why: string): undefined {
  console.error(`splice-relay: ${why}; the zero-copy reference is left out`);
  return undefined;
}

/**
 * Builds the relay once per source version into a cache folder of this user's (mode 0700), compiling to a
 * temporary name and renaming it into place, so that a build cut short or two benchmarks starting at once never
 * leave a broken binary where the next run would take it.
 */
function build(): string | undefined {
  if (process.platform !== 'linux') return leaveOut('not Linux');
  const dir = join(tmpdir(), `dockhand-splice-relay-${process.getuid?.() ?? 'user'}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const owner = statSync(dir);
  if (owner.uid !== process.getuid?.() || (owner.mode & 0o077) !== 0)
    return leaveOut(`${dir} is not this user's alone`);
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  const binary = join(dir, `splice-relay-${hash}`);
  if (existsSync(binary)) return binary;
  const partial = `${binary}.${process.pid}.tmp`;
  try {
    execFileSync('cc', ['-O2', '-pthread', '-o', partial, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(partial, binary);
    return binary;
  } catch (err) {
    rmSync(partial, { force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return leaveOut(stderr ? `cc failed: ${stderr}` : `cc could not run (${(err as Error).message})`);
  }
}

/** Whether `listen` (`unix:/path` or `tcp:host:port`) accepts a connection. */
function answers(listen: string): Promise<boolean> {
  return new Promise((resolve) => {
    const tcp = /^tcp:\[?([^\]]*)\]?:(\d+)$/.exec(listen);
    const s = tcp ? connect({ host: tcp[1], port: Number(tcp[2]) }) : connect(listen.slice('unix:'.length));
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/**
 * Starts a splice relay from `listen` to `target` (each `unix:/path` or `tcp:host:port`) and waits until it
 * accepts connections. The relay exits when this process does (it watches its standard input).
 *
 * @returns the relay, or `undefined` (with the reason on stderr) where it cannot be built or did not start
 */
export async function startSpliceRelay(listen: string, target: string): Promise<SpliceRelay | undefined> {
  const binary = build();
  if (binary === undefined) return undefined;
  const child = spawn(binary, [listen, target], { stdio: ['pipe', 'ignore', 'inherit'] });
  let failed: string | undefined;
  child.on('error', (err) => {
    failed = err.message;
  });
  child.on('exit', (code, signal) => {
    failed ??= `exited (${signal ?? code})`;
  });
  for (let i = 0; i < 100 && failed === undefined; i++) {
    if (await answers(listen)) return { process: child, stop: () => child.kill() };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  if (failed?.startsWith('exited (SIGSEGV') || failed?.startsWith('exited (SIGILL'))
    rmSync(binary, { force: true });
  return leaveOut(`it did not start: ${failed ?? `nothing answered on ${listen} within 5 s`}`);
}
