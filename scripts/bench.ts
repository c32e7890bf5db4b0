// `pnpm bench`: every package's benchmark, one after the other, each against its own same-run baseline.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const benches = [
  'packages/core/bench/proxy.bench.ts',
  'packages/mutators/bench/tenant.bench.ts',
  'packages/mutators/bench/hidden-image.bench.ts',
  'packages/forwarder/bench/forward.bench.ts',
  'packages/instructions/bench/render.bench.ts',
];
const extra = process.argv.slice(2);
for (const file of benches) {
  if (!existsSync(file)) continue;
  console.log(`\n# ${file}`);
  execFileSync(process.execPath, [file, ...extra], { stdio: 'inherit' });
}
