// The terminal bridge: receives the guide's "run in terminal" requests and types the command into the
// IDE's shared tmux session ("workshop"), which the first VS Code terminal is attached to. It listens on
// loopback only: the instructions service shares the IDE's network namespace, nothing else can reach it.
//   POST /run  {"command": "docker ps", ...}  ->  204
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { promisify } from 'node:util';

const run = promisify(execFile);
const socket = process.env.WORKSHOP_TMUX_SOCKET ?? '/var/run/dockhand-terminal/tmux.sock';
const port = Number.parseInt(process.env.TERMINAL_BRIDGE_PORT ?? '13339', 10);
const projectDir = process.env.PROJECT_DIR ?? '/home/coder/project';
const MAX_BODY = 16 * 1024;

async function tmux(...args) {
  return run('tmux', ['-S', socket, ...args]);
}

async function typeIntoTerminal(command) {
  try {
    await tmux('has-session', '-t', 'workshop');
  } catch {
    await tmux('new-session', '-d', '-s', 'workshop', '-c', projectDir);
  }
  // -l: literal text, no key-name lookup; each line is entered on its own.
  for (const line of command.replace(/\r\n/g, '\n').split('\n')) {
    if (line.length > 0) await tmux('send-keys', '-t', 'workshop', '-l', line);
    await tmux('send-keys', '-t', 'workshop', 'Enter');
  }
}

const server = createServer(async (req, res) => {
  if (req.method !== 'POST' || req.url !== '/run') {
    res.writeHead(404).end();
    return;
  }
  let size = 0;
  const chunks = [];
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) {
      res.writeHead(413).end();
      return;
    }
    chunks.push(chunk);
  }
  let command;
  try {
    ({ command } = JSON.parse(Buffer.concat(chunks).toString('utf8')));
  } catch {
    command = undefined;
  }
  if (typeof command !== 'string' || command.trim() === '') {
    res.writeHead(400).end('expected {"command": "..."}');
    return;
  }
  try {
    await typeIntoTerminal(command.trimEnd());
    res.writeHead(204).end();
  } catch (error) {
    process.stderr.write(`terminal-bridge: ${error.message}\n`);
    res.writeHead(500).end();
  }
});
server.listen(port, '127.0.0.1', () =>
  process.stderr.write(`terminal-bridge: listening on 127.0.0.1:${port}\n`),
);
