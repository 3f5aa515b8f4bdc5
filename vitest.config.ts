import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests share one machine's Redis, PostgreSQL and renderer: two files at a time is what 2 cores hold.
    maxWorkers: 2,
    pool: 'forks',
  },
});
