// The benchmarks' zero-copy reference (splice-relay.c): built with the machine's C compiler on first use and
// started as a child process. Where there is no compiler, or not Linux, the benchmarks leave it out.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('./splice-relay.c', import.meta.url));

/** A running splice relay. */
export interface SpliceRelay {
  readonly process: ChildProcess;
  stop(): void;
}

/** Builds the relay once per source version; `undefined` when it cannot be built here. */
function build(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 12);
  const binary = join(tmpdir(), `dockhand-splice-relay-${hash}`);
  if (existsSync(binary)) return binary;
  try {
    execFileSync('cc', ['-O2', '-pthread', '-o', binary, source], { stdio: 'pipe' });
    return binary;
  } catch {
    return undefined;
  }
}

/**
 * Starts a splice relay from `listen` to `target` (each `unix:/path` or `tcp:host:port`).
 *
 * @returns the relay, or `undefined` (with a note on stderr) where no C compiler is available
 */
export function startSpliceRelay(listen: string, target: string): SpliceRelay | undefined {
  const binary = build();
  if (binary === undefined) {
    console.error('splice-relay: no C compiler (cc) here; the zero-copy reference is left out');
    return undefined;
  }
  const child = spawn(binary, [listen, target], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { process: child, stop: () => child.kill() };
}
