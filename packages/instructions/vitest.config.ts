import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'instructions', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
});
