import { defineConfig } from "tsup"

// The embedded database's worker thread is its own entry: a Worker loads a file, next to the bin.
export default defineConfig({
  entry: { bin: "src/bin.ts", embeddedDatabaseWorker: "src/infra/embeddedDatabaseWorker.ts" },
  format: ["esm"],
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "node20",
  banner: { js: "#!/usr/bin/env node" }
})
