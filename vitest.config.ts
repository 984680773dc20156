import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native handles, workers and child processes: forks isolate crashes.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two vCPUs: parallel files would distort the timing-sensitive suites.
    fileParallelism: false,
  },
});
