// A proxy in its own process for the benchmark: the workshop tenant pipeline (or none), CPU time over IPC.
import { createProxy } from '@dockhand/core';
import { answerBench } from '../../../scripts/contestant.ts';
import { workshopTenant } from '../src/index.ts';

const [listen, tenant, projectVolume, socketVolume] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
];
const preset = tenant === '-' ? undefined : workshopTenant({ tenant, projectVolume, socketVolume });
const proxy = createProxy({
  upstream: 'unix:///var/run/docker.sock',
  middleware: preset ? [preset] : [],
});
// as `dockhand proxy` does: the instance's volumes checked before the first request, so the lane is open from it
await preset?.verifyInstanceVolumes(proxy.upstream);
await proxy.listen(listen);
answerBench(() => proxy.close());
