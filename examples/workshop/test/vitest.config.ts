import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'workshop',
    include: ['**/*.test.ts'],
    // One long end-to-end walk-through: its steps run in order and share two instances.
    testTimeout: 15 * 60_000,
    hookTimeout: 30 * 60_000,
    fileParallelism: false,
  },
});
