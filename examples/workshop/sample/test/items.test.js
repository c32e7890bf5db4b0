// An integration test with Testcontainers: builds and starts the real database (db/Dockerfile, with the
// schema from dev/db), then runs the API's queries against it. Testcontainers' reaper removes the
// container even if this process dies.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { GenericContainer, Wait } from 'testcontainers';
import { addItem, listItems } from '../api/items.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let container;
let pool;

before(async () => {
  const image = await GenericContainer.fromDockerfile(root, 'db/Dockerfile').withCache(true).build();
  container = await image
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/))
    .start();
  pool = new pg.Pool({
    host: container.getHost(),
    port: container.getMappedPort(5432),
    user: 'postgres',
    password: 'postgres',
    database: 'app',
  });
});

after(async () => {
  await pool?.end();
  await container?.stop();
});

test('the schema from dev/db is loaded', async () => {
  const items = await listItems(pool);
  assert.deepEqual(
    items.map((item) => item.name),
    ['Learn how containers work', 'Run the integration tests'],
  );
});

test('an item can be added and read back', async () => {
  const added = await addItem(pool, 'Write a test');
  assert.equal(added.name, 'Write a test');
  const items = await listItems(pool);
  assert.ok(items.some((item) => item.id === added.id));
});
