import { readFileSync } from "node:fs"
import { defineConfig } from "tsup"

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"))

// Commands are separate entries and imported lazily, so `inv --help` loads none of the core. What
// bin.ts imports statically (the command tree, src/options) lands in bin.js or in chunks it loads
// at once, so it must not import the SDK's index: test/startup.test.ts fails if it does.
export default defineConfig({
  entry: ["src/bin.ts", "src/commands/**/*.ts"],
  format: ["esm"],
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "node20",
  define: { INV_VERSION: JSON.stringify(version) },
  banner: { js: "#!/usr/bin/env node" }
})
