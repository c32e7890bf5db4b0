import type { Command } from 'commander';

/**
 * Registers `dockhand instructions` (not written yet).
 *
 * @param program - the root program
 * @internal
 */
export function registerInstructions(program: Command): void {
  program
    .command('instructions')
    .description('(not written yet)')
    .action(() => {
      throw new Error('dockhand instructions is not written yet');
    });
}
