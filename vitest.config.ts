import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/support/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Infra tests bundle with esbuild and e2e tests start servers: keep parallelism modest on 2 cores.
    maxWorkers: 2,
  },
});
