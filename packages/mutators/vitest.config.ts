import { defineProject } from 'vitest/config';

export default defineProject({
  test: { name: 'mutators', include: ['src/**/*.test.ts', 'test/**/*.test.ts'] },
});
