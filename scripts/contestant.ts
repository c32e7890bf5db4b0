// For the benchmarks: a contestant forked in a process of its own (a proxy, a reference relay). It speaks a small
// IPC protocol: its first message says it listens; `{ cpu: true }` is answered with `{ cpu: process.cpuUsage() }`;
// `{ stop: true }` makes it close and exit.
import { type ChildProcess, fork } from 'node:child_process';

/**
 * Waits for a forked contestant's first message, sent once it listens.
 *
 * @param child - the forked process
 * @param name - what it is, for the error
 * @throws Error when it exits before it listens (a bench would otherwise wait for ever)
 */
export function whenListening(child: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it listened`)));
  });
}

/** A contestant running in a process of its own. */
export interface ForkedContestant {
  /** The process. */
  readonly child: ChildProcess;
  /** The CPU time (user and system) the process has used so far, in µs. */
  cpu(): Promise<number>;
  /** Asks it to close and exit. */
  stop(): void;
}

/**
 * Forks a contestant and waits until it listens.
 *
 * @param script - the contestant's script (its path)
 * @param args - its arguments
 * @param name - what it is, for errors
 * @throws Error when it exits before it listens
 */
export async function forkContestant(
  script: string,
  args: string[],
  name: string,
): Promise<ForkedContestant> {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await whenListening(child, name);
  return {
    child,
    cpu: () =>
      new Promise<number>((resolve, reject) => {
        const onExit = (code: number | null) => reject(new Error(`${name} exited (${code})`));
        child.once('exit', onExit);
        child.once('message', (m: { cpu: NodeJS.CpuUsage }) => {
          child.off('exit', onExit);
          resolve(m.cpu.user + m.cpu.system);
        });
        child.send({ cpu: true });
      }),
    stop: () => {
      if (child.connected) child.send({ stop: true });
    },
  };
}
