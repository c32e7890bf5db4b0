import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'fixtures/reaper', 'examples/workshop/test'],
  },
});
