import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'hardware/**/*.test.ts', 'test/**/*.test.ts'],
    // Native addons (pkcs11js: one C_Initialize per process) need processes, not threads.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
