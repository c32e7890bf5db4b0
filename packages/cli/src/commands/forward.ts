import {
  createForwarder,
  ForwarderError,
  ForwarderErrorCode,
  serveStatus,
  type TargetMode,
} from '@dockhand/forwarder';
import type { Command } from 'commander';
import { createCliLogger } from '../logger.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * Registers `dockhand forward`: forward every port the (tenant's) containers publish to localhost here.
 *
 * @param program - the root program
 * @example
 * ```sh
 * dockhand forward --docker-host unix:///run/dockhand/alice.sock --label workshop.tenant=alice --status-port 9999
 * ```
 * @internal
 */
export function registerForward(program: Command): void {
  program
    .command('forward')
    .description(
      "Make every port the engine's containers publish reachable on localhost in this network namespace",
    )
    .option(
      '--docker-host <url>',
      'Docker socket to follow: unix:///path or tcp://host:port (normally the tenant proxy)',
      process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock',
    )
    .option(
      '--label <k=v>',
      'only forward containers with this label (repeatable, all must match)',
      collect,
      [],
    )
    .option('--target <mode>', 'how to reach containers: auto, network or published', 'auto')
    .option(
      '--attach-network <name>',
      "connect each container to this network (the forwarder's) and use its IP there",
    )
    .option(
      '--published-host <address>',
      "the engine host's address for published ports (default: the gateway)",
    )
    .option('--port-offset <n>', 'listen on HostPort + n', (v) => Number(v), 0)
    .option(
      '--allow <ports>',
      'only forward these host ports or ranges, e.g. 8000-8999 (repeatable)',
      collect,
      [],
    )
    .option('--deny <ports>', 'never forward these host ports or ranges (repeatable)', collect, [])
    .option('--status-port <port>', 'serve the forwarded ports as JSON on this port', (v) => Number(v))
    .option('--status-host <address>', 'address for the status endpoint', '127.0.0.1')
    .action(async (opts) => {
      const log = createCliLogger();
      const target = opts.target as TargetMode;
      try {
        const forwarder = await createForwarder({
          dockerHost: opts.dockerHost,
          labels: opts.label,
          target,
          attachNetwork: opts.attachNetwork,
          publishedHost: opts.publishedHost,
          portOffset: opts.portOffset,
          allow: opts.allow.flatMap((a: string) => a.split(',')), // empty: every port
          deny: opts.deny.flatMap((d: string) => d.split(',')),
          logger: log,
        });
        const status =
          opts.statusPort === undefined
            ? undefined
            : await serveStatus(forwarder, { port: opts.statusPort, host: opts.statusHost });
        if (status) log.info({ url: status.url }, `status endpoint on ${status.url}`);
        const stop = async (signal: string) => {
          log.info({ signal }, 'shutting down');
          await status?.close();
          await forwarder.close();
          process.exit(0);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      } catch (err) {
        if (err instanceof ForwarderError) {
          log.fatal({ code: err.code }, err.message);
          process.exitCode = err.code === ForwarderErrorCode.InvalidOption ? 2 : 1;
          return;
        }
        throw err;
      }
    });
}
