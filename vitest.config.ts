import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";
import SlowestFirst from "./test/sequencer.js";

/**
 * Test files at once: one per core. Vitest's default for `run` is one fewer (1 on a 2-core machine:
 * every file after the other), but most files here spend much of their time waiting on real
 * processes, sockets and timeouts: one after the other, the suite kept about one of 2 cores busy.
 * Two at once fill both; more only make the CPU-heavy files (heap snapshots, 65 MiB through S3)
 * queue for the CPU. The longest files start first (test/sequencer.ts). VITEST_MAX_WORKERS or
 * --maxWorkers still override it.
 */
const FILES_AT_ONCE = availableParallelism();

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    maxWorkers: FILES_AT_ONCE,
    sequence: { sequencer: SlowestFirst },
    coverage: {
      provider: "v8",
      include: ["protocol/**", "common/**", "agent/**", "controller/**", "cli/**"],
      reporter: ["text-summary"],
    },
  },
});
