import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    // Every step runs the built `inv` in a new process that opens the embedded store.
    testTimeout: 30_000,
    // Test workers mostly wait on `inv` processes, so more files can run than there are CPUs.
    maxWorkers: 3,
    minWorkers: 1,
    hookTimeout: 60_000
  }
})
