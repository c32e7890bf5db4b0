import type { Command } from 'commander';

/**
 * Registers `dockhand workshop` (not written yet).
 *
 * @param program - the root program
 * @internal
 */
export function registerWorkshop(program: Command): void {
  program
    .command('workshop')
    .description('(not written yet)')
    .action(() => {
      throw new Error('dockhand workshop is not written yet');
    });
}
