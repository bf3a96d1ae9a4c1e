import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // Integration tests mount overlays and run runc: keep files in one worker at a time per file,
    // but let files run in parallel (each uses its own temp store).
    fileParallelism: true,
    maxWorkers: 2,
  },
});
