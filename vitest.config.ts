import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    // Child processes rather than worker threads: a test that wedges its event loop or leaks
    // handles can be killed cleanly, and web streams behave as in a plain `node` process.
    pool: "forks",
    // The box has 2 cores; more workers than that only adds contention to timing-sensitive tests.
    maxWorkers: 2,
    // The harness passes each test's own `timeout` (default 20 s); these are the fallbacks.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    teardownTimeout: 10_000,
  },
});
