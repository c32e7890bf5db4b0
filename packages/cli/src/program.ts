import { Command } from 'commander';
import { registerForward } from './commands/forward.ts';
import { registerInstructions } from './commands/instructions.ts';
import { registerProxy } from './commands/proxy.ts';
import { registerWorkshop } from './commands/workshop.ts';

/**
 * Builds the `dockhand` command-line program with every subcommand registered.
 *
 * @returns a commander program; call `parseAsync(argv)` on it.
 * @example
 * ```ts
 * await createProgram().parseAsync(['node', 'dockhand', 'proxy', '--listen', '/tmp/d.sock']);
 * ```
 */
export function createProgram(): Command {
  const program = new Command('dockhand')
    .description('Safe, separate slices of one Docker Engine')
    .showHelpAfterError();
  registerProxy(program);
  registerForward(program);
  registerInstructions(program);
  registerWorkshop(program);
  return program;
}
