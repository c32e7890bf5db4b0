// A reference for the benchmarks: the least a Node.js process can do between client and engine. It accepts
// a connection, connects to the engine and copies bytes each way as they arrive (`data` → `write`, pausing on
// backpressure); it parses nothing and runs no middleware. What it costs per request is Node's own floor on this
// machine: the event loop, a read and a write each way. Run by the proxy and tenant benchmarks as the contestant
// `node`; it speaks the contestants' IPC protocol (contestant.ts).
//   node scripts/node-relay.ts <listen socket> <engine socket>
import { connect, createServer, type Socket } from 'node:net';
import { answerBench } from './contestant.ts';

const [listen, engine] = process.argv.slice(2) as [string, string];

/** Copies `from` into `to`, pausing `from` while `to` is full; an end is passed on as a half-close. */
function copy(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', () => from.resume());
    }
  });
  from.on('end', () => to.end());
}

const server = createServer({ allowHalfOpen: true }, (client) => {
  const up = connect({ path: engine, allowHalfOpen: true });
  copy(client, up);
  copy(up, client);
  const cut = (): void => {
    client.destroy();
    up.destroy();
  };
  client.on('error', cut);
  up.on('error', cut);
  client.on('close', () => up.destroy());
  up.on('close', () => client.destroy());
});
server.on('error', (err) => {
  console.error(`node-relay: ${err.message}`);
  process.exit(1);
});
server.listen(listen, () => answerBench());
