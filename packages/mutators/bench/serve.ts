// A proxy in its own process for the benchmark: the workshop tenant pipeline (or none), CPU time over IPC.
import { createProxy } from '@dockhand/core';
import { workshopTenant } from '../src/index.ts';

const [listen, tenant, projectVolume, socketVolume] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
];
const proxy = createProxy({
  upstream: 'unix:///var/run/docker.sock',
  middleware: tenant === '-' ? [] : [workshopTenant({ tenant, projectVolume, socketVolume })],
});
await proxy.listen(listen);
process.send?.({ ready: true });
process.on('message', (msg: { cpu?: boolean; stop?: boolean }) => {
  if (msg.cpu) process.send?.({ cpu: process.cpuUsage() });
  if (msg.stop) void proxy.close().then(() => process.exit(0));
});
// the bench that started it ends: so does the proxy
process.on('disconnect', () => process.exit(0));
