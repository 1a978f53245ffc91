import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Servers start in-process against a fresh PostgreSQL database, or as the built bin.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Some files stop RabbitMQ or Redis on purpose; one file at a time, no other file sees it.
    fileParallelism: false
  }
})
