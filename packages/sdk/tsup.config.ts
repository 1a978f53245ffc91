import { defineConfig } from "tsup"

export default defineConfig({
  // Rules is its own entry, `@invkit/sdk/rules`: the CLI's help and argument parsing load it alone.
  entry: ["src/index.ts", "src/Rules.ts"],
  format: ["esm"],
  // Declarations come from tsc (tsconfig.build.json): the bundled ones lost the schema half of
  // names that are both a schema and a type (Stock.AdjustStock, Event.CloudEvent).
  dts: false,
  sourcemap: true,
  clean: true,
  target: "node20"
})
