import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Prepares one migrated PGlite data directory; each test store is a copy of it.
    globalSetup: ["test/globalSetup.ts"],
    // PGlite runs PostgreSQL in WASM on the test's own thread: generous, on a small machine.
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
