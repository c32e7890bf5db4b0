import { unlink, writeFile } from 'node:fs/promises';
import { createProxy, type Middleware } from '@dockhand/core';
import { loadProxyConfig, type ProxyConfig, parseSocketMode } from '@dockhand/mutators';
import type { Command } from 'commander';
import { createCliLogger } from '../logger.ts';

interface ProxyFlags {
  listen?: string;
  upstream?: string;
  socketMode?: string;
  config?: string;
  readyFile?: string;
}

/**
 * Registers `dockhand proxy`: a Docker API proxy, pass-through with request logging, or with the pipeline a
 * configuration file names (`--config tenant.yaml`).
 *
 * @param program - the root program
 * @internal
 */
export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description('Run a Docker Engine API proxy')
    .option('--listen <socket|host:port>', 'where to listen: a unix socket path or host:port')
    .option(
      '--upstream <DOCKER_HOST>',
      'the engine to forward to (default: $DOCKER_HOST or the local socket)',
    )
    .option('--socket-mode <octal>', 'file mode of the listening unix socket (default 660)')
    .option(
      '--config <file>',
      'a YAML or JSON file naming the middleware pipeline (see docs/configuration.md)',
    )
    .option(
      '--ready-file <path>',
      'a file written once the proxy listens (removed at start): for a healthcheck that must not trust the socket alone',
    )
    .action(async (flags: ProxyFlags) => {
      const logger = createCliLogger();
      // a ready file left by an earlier run of the same container must not speak for this one
      if (flags.readyFile) await unlink(flags.readyFile).catch(() => {});
      let middleware: Middleware[] = [];
      let preflight: ProxyConfig['preflight'];
      let fromFile: { listen?: string; upstream?: string; socketMode?: number } = {};
      if (flags.config) {
        try {
          const config = await loadProxyConfig(flags.config);
          middleware = config.middleware;
          preflight = config.preflight;
          fromFile = config;
        } catch (err) {
          logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
          process.exitCode = 2;
          return;
        }
      }
      const listen = flags.listen ?? fromFile.listen;
      if (!listen) {
        logger.fatal('--listen is required (or `listen:` in the config file)');
        process.exitCode = 2;
        return;
      }
      const upstream =
        flags.upstream ?? fromFile.upstream ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
      let mode: number;
      try {
        mode =
          flags.socketMode !== undefined ? parseSocketMode(flags.socketMode) : (fromFile.socketMode ?? 0o660);
      } catch (err) {
        logger.fatal({ code: (err as { code?: string }).code }, `--socket-mode: ${(err as Error).message}`);
        process.exitCode = 2;
        return;
      }
      // the access log, not a logging middleware: it keeps the byte lane open for what the pipeline leaves alone
      const proxy = createProxy({ upstream, middleware, logger, accessLog: true });
      // a socket path (or unix://...), else host:port (or tcp://host:port)
      const target =
        listen.includes('/') && !listen.startsWith('tcp://')
          ? { path: listen.replace(/^unix:\/\//, ''), mode }
          : listen;
      // what the pipeline must check on the engine before it serves (a workshop instance's own volumes, which a
      // tenant may have created first): a failure exits before listening, so nothing is served and no healthcheck
      // passes
      if (preflight) {
        try {
          await preflight(proxy.upstream, logger);
        } catch (err) {
          logger.fatal({ code: (err as { code?: string }).code }, (err as Error).message);
          await proxy.close();
          process.exitCode = 1;
          return;
        }
      }
      try {
        await proxy.listen(target);
      } catch (err) {
        // a directory that does not exist, an address in use, ...: a line that says so, not a stack trace
        logger.fatal({ listen }, `cannot listen on ${listen}: ${(err as Error).message}`);
        await proxy.close().catch(() => {});
        process.exitCode = 1;
        return;
      }
      if (flags.readyFile) await writeFile(flags.readyFile, `${process.pid}\n`);
      const stop = async (signal: string) => {
        logger.info({ signal }, 'shutting down');
        await proxy.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
