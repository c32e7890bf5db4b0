// For the benchmarks: a contestant forked in a process of its own (a proxy, a reference relay). It speaks a small
// IPC protocol, the bench's side in forkContestant and the contestant's in answerBench: its first message says it
// listens; `{ cpu: true }` is answered with `{ cpu: process.cpuUsage() }`; `{ stop: true }` makes it close and exit.
import { type ChildProcess, fork } from 'node:child_process';

/**
 * Waits for a forked contestant's first message, sent once it listens.
 *
 * @param child - the forked process
 * @param name - what it is, for the error
 * @returns when the contestant listens
 * @throws Error when it exits before it listens (a bench would otherwise wait for ever)
 * @example
 * ```ts
 * await whenListening(fork('serve.ts', [socket]), 'the proxy');
 * ```
 */
export function whenListening(child: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it listened`)));
  });
}

/**
 * The contestant's side of the protocol, called once it listens: says so, answers `cpu`, and closes and exits on
 * `stop`, or at once when the bench that started it is gone.
 *
 * @param close - what to close before it exits on `stop`
 * @example
 * ```ts
 * await proxy.listen(socket);
 * answerBench(() => proxy.close());
 * ```
 */
export function answerBench(close: () => Promise<void> | void = () => {}): void {
  process.send?.({ ready: true });
  process.on('message', (msg: { cpu?: boolean; stop?: boolean }) => {
    if (msg.cpu) process.send?.({ cpu: process.cpuUsage() });
    if (msg.stop) void Promise.resolve(close()).then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
}

/** A contestant running in a process of its own. */
export interface ForkedContestant {
  /** The process. */
  readonly child: ChildProcess;
  /**
   * The CPU time (user and system) the process has used so far, in µs.
   *
   * @throws Error when the process is gone, or exits before it answers
   */
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
 * @returns the running contestant
 * @throws Error when it exits before it listens
 * @example
 * ```ts
 * const relay = await forkContestant('scripts/node-relay.ts', [socket, '/var/run/docker.sock'], 'the node relay');
 * const before = await relay.cpu();
 * ```
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
        if (!child.connected) {
          reject(new Error(`${name} is gone`));
          return;
        }
        const done = (): void => {
          child.off('message', onMessage);
          child.off('exit', onExit);
        };
        const onMessage = (m: unknown): void => {
          if (typeof m !== 'object' || m === null || !('cpu' in m)) return;
          done();
          const cpu = (m as { cpu: NodeJS.CpuUsage }).cpu;
          resolve(cpu.user + cpu.system);
        };
        const onExit = (code: number | null): void => {
          done();
          reject(new Error(`${name} exited (${code})`));
        };
        child.on('message', onMessage);
        child.on('exit', onExit);
        child.send({ cpu: true }, (err) => {
          if (err) {
            done();
            reject(err);
          }
        });
      }),
    stop: () => {
      if (child.connected) child.send({ stop: true });
    },
  };
}
