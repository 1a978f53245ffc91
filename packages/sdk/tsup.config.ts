import { readFileSync } from "node:fs"
import { defineConfig } from "tsup"

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"))

export default defineConfig({
  entry: {
    index: "src/index.ts",
    // Rules is its own entry, `@invkit/sdk/rules`: the CLI's help and argument parsing load it alone.
    Rules: "src/Rules.ts",
    // So are Target and StoreProcess: a command on a running store process loads only these.
    Target: "src/Target.ts",
    StoreProcess: "src/StoreProcess.ts",
    // The store process's own script, spawned by StoreProcess.ts from beside it.
    storeProcessMain: "src/internal/storeProcessMain.ts"
  },
  format: ["esm"],
  // Declarations come from tsc (tsconfig.build.json): the bundled ones lost the schema half of
  // names that are both a schema and a type (Stock.AdjustStock, Event.CloudEvent).
  dts: false,
  sourcemap: true,
  clean: true,
  target: "node20",
  define: { SDK_VERSION: JSON.stringify(version) }
})
