import { createInstructionsServer, postCommandTo, variablesFromEnv } from '@dockhand/instructions';
import { type Command, InvalidArgumentError } from 'commander';
import { createCliLogger } from '../logger.ts';

interface InstructionsOptions {
  root: string;
  port: string;
  host: string;
  title?: string;
  var: Record<string, string>;
  runUrl?: string;
  watch: boolean;
}

function collectVariable(value: string, previous: Record<string, string>): Record<string, string> {
  const at = value.indexOf('=');
  const name = value.slice(0, at);
  if (at <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new InvalidArgumentError('expected NAME=VALUE, with NAME made of letters, digits and _');
  }
  return { ...previous, [name]: value.slice(at + 1) };
}

/**
 * Registers `dockhand instructions`: serves a workshop's `docs/` folder as a guide site, with live reload.
 * Variables come from `DOCKHAND_VAR_<NAME>` environment variables and `--var NAME=VALUE` (which wins).
 *
 * @param program - the root program
 * @internal
 */
export function registerInstructions(program: Command): void {
  program
    .command('instructions')
    .description("Serve a workshop's markdown guide (a docs/ folder) as a website")
    .option('--root <dir>', 'the docs folder', 'docs')
    .option('--port <port>', 'TCP port to listen on', '8080')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--title <text>', 'workshop title when workshop.yaml has none')
    .option('--var <NAME=VALUE>', 'a value for {{ NAME }} in pages (repeatable)', collectVariable, {})
    .option('--run-url <url>', 'POST "run in terminal" commands as JSON to this URL (default: buttons copy)')
    .option('--no-watch', 'do not watch the folder for changes')
    .action(async (opts: InstructionsOptions) => {
      const logger = createCliLogger();
      const server = createInstructionsServer({
        root: opts.root,
        title: opts.title,
        variables: { ...variablesFromEnv(process.env), ...opts.var },
        runCommand: opts.runUrl ? postCommandTo(opts.runUrl) : undefined,
        watch: opts.watch,
        logger,
      });
      const url = await server.listen(Number.parseInt(opts.port, 10), opts.host);
      logger.info({ url, root: opts.root }, 'guide is being served');
      const stop = async (signal: string) => {
        logger.info({ signal }, 'shutting down');
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
