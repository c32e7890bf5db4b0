// A testcontainers-node session in its own process, for testcontainers.test.ts: it starts a network and a
// busybox container on it (which starts the reaper), uses the container (exec, copy a file in and read it
// back), prints `SESSION <json>` and lives until its stdin closes, which closes its reaper connection.
//
//   TESTCONTAINERS_ENTRY  absolute path of testcontainers' main file
//   TEST_LABELS           JSON object of labels for the busybox container
//   DOCKER_HOST, RYUK_CONTAINER_IMAGE and TESTCONTAINERS_* as testcontainers reads them
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { GenericContainer, Network } = require(process.env.TESTCONTAINERS_ENTRY || 'testcontainers');

const network = await new Network().start();
const container = await new GenericContainer('busybox:latest')
  .withCommand(['sleep', '300'])
  .withNetwork(network)
  .withLabels(JSON.parse(process.env.TEST_LABELS || '{}'))
  .withCopyContentToContainer([{ content: 'hello from the session\n', target: '/tmp/greeting' }])
  .start();
const exec = await container.exec(['cat', '/tmp/greeting']);

process.stdout.write(
  `SESSION ${JSON.stringify({ containerId: container.getId(), networkId: network.getId(), exec: exec.output, exitCode: exec.exitCode })}\n`,
);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
