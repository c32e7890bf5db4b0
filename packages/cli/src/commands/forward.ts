import type { Command } from 'commander';

/**
 * Registers `dockhand forward` (not written yet).
 *
 * @param program - the root program
 * @internal
 */
export function registerForward(program: Command): void {
  program
    .command('forward')
    .description('(not written yet)')
    .action(() => {
      throw new Error('dockhand forward is not written yet');
    });
}
