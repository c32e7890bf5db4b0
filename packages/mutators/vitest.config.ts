import { defineProject } from 'vitest/config';

export default defineProject({
  // integration tests drive the real engine: setup and teardown (images, cleanup) take longer than unit tests
  test: {
    name: 'mutators',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    hookTimeout: 120_000,
    testTimeout: 120_000,
  },
});
