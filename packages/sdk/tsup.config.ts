import { defineConfig } from "tsup"

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  // Declarations come from tsc (tsconfig.build.json): the bundled ones lost the schema half of
  // names that are both a schema and a type (Stock.AdjustStock, Event.CloudEvent).
  dts: false,
  sourcemap: true,
  clean: true,
  target: "node20"
})
