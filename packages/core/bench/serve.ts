// A proxy in its own process for the benchmark: an empty pipeline, reporting its CPU time over IPC.
import { answerBench } from '../../../scripts/contestant.ts';
import { createProxy } from '../src/index.ts';

const [listen, upstream] = process.argv.slice(2) as [string, string];
const proxy = createProxy({ upstream });
await proxy.listen(listen);
answerBench(() => proxy.close());
