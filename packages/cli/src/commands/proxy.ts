import { createProxy, logRequests } from '@dockhand/core';
import type { Command } from 'commander';
import { createCliLogger } from '../logger.ts';

/**
 * Registers `dockhand proxy`: a pass-through Docker API proxy with request logging.
 *
 * @param program - the root program
 * @internal
 */
export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description('Run a Docker Engine API proxy')
    .requiredOption('--listen <socket|host:port>', 'where to listen: a unix socket path or host:port')
    .option(
      '--upstream <DOCKER_HOST>',
      'the engine to forward to',
      process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
    )
    .option('--socket-mode <octal>', 'file mode of the listening unix socket', '660')
    .action(async (opts: { listen: string; upstream: string; socketMode: string }) => {
      const logger = createCliLogger();
      const proxy = createProxy({ upstream: opts.upstream, middleware: [logRequests()], logger });
      const target = opts.listen.includes('/')
        ? { path: opts.listen.replace(/^unix:\/\//, ''), mode: Number.parseInt(opts.socketMode, 8) }
        : opts.listen;
      await proxy.listen(target);
      const stop = async (signal: string) => {
        logger.info({ signal }, 'shutting down');
        await proxy.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
