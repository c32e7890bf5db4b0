// For the benchmarks: a contestant forked in a process of its own (a proxy, a reference relay) says it listens
// with its first IPC message.
import type { ChildProcess } from 'node:child_process';

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
