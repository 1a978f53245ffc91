import { defineConfig } from "vitest/config"

const shared = {
  globalSetup: ["test/globalSetup.ts"],
  // Every step runs the built `inv` in a new process that opens the embedded store (or talks to a server).
  testTimeout: 30_000,
  hookTimeout: 60_000
}

export default defineConfig({
  test: {
    // Test workers mostly wait on `inv` processes, so more files can run than there are CPUs.
    maxWorkers: 3,
    minWorkers: 1,
    projects: [
      {
        // `inv --data-dir <a copy of the template store>`
        test: {
          ...shared,
          name: "embedded",
          include: ["test/**/*.test.ts"],
          // Needs a server: it runs in the server project only.
          exclude: ["test/profile.test.ts"],
          provide: { target: "embedded" }
        }
      },
      {
        // The same scenarios with `inv --server <url> --token <token>` against the built
        // `inv-server all` on a copy of the template store (one server per test file).
        test: {
          ...shared,
          name: "server",
          include: [
            "test/product.test.ts",
            "test/stock.test.ts",
            "test/restock.test.ts",
            "test/reservation.test.ts",
            "test/badInput.test.ts",
            "test/supplier.test.ts",
            "test/worker.test.ts",
            "test/profile.test.ts"
          ],
          provide: { target: "server" }
        }
      }
    ]
  }
})
