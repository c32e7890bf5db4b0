// A proxy in its own process for the benchmark: an empty pipeline, reporting its CPU time over IPC.
import { createProxy } from '../src/index.ts';

const [listen, upstream] = process.argv.slice(2) as [string, string];
const proxy = createProxy({ upstream });
await proxy.listen(listen);
process.send?.({ ready: true });
process.on('message', (msg: { cpu?: boolean; stop?: boolean }) => {
  if (msg.cpu) process.send?.({ cpu: process.cpuUsage() });
  if (msg.stop) void proxy.close().then(() => process.exit(0));
});
// the bench that started it ends: so does the proxy
process.on('disconnect', () => process.exit(0));
