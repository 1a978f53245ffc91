import { defineConfig } from "tsup"

// Commands are separate entries and imported lazily, so `inv --help` loads none of the core.
export default defineConfig({
  entry: ["src/bin.ts", "src/commands/**/*.ts"],
  format: ["esm"],
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "node20",
  banner: { js: "#!/usr/bin/env node" }
})
