import { readFileSync } from "node:fs"
import { defineConfig, type Options } from "tsup"

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"))

const common: Options = {
  format: ["esm"],
  // Declarations come from tsc (tsconfig.build.json): the bundled ones lost the schema half of
  // names that are both a schema and a type (Stock.AdjustStock, Event.CloudEvent).
  dts: false,
  sourcemap: true,
  target: "node20",
  define: { SDK_VERSION: JSON.stringify(version) }
}

// No `clean`: the builds run at once, and one's cleaning could remove the other's files; the
// package's build script empties dist first.
export default defineConfig([
  {
    ...common,
    entry: {
      index: "src/index.ts",
      // Rules is its own entry, `@invkit/sdk/rules`: the CLI's help and argument parsing load it alone.
      Rules: "src/Rules.ts",
      // So are Target and StoreProcess: a command on a running store process loads only these.
      Target: "src/Target.ts",
      StoreProcess: "src/StoreProcess.ts"
    }
  },
  {
    ...common,
    // The store process's script, spawned by StoreProcess.ts from beside it: it begins PGlite's
    // start, then loads the core below.
    entry: { storeProcessMain: "src/internal/storeProcessMain.ts" },
    external: ["@electric-sql/pglite"],
    sourcemap: false
  },
  {
    ...common,
    // The store process's core with its dependencies in the one file: Node loads one module
    // instead of some five hundred (Effect, @effect/*, the SDK), which was most of a cold
    // command's wait beside PGlite's own start. CommonJS, so that the script can compile it with
    // V8's code cache (see storeProcessCache.ts). It runs alone in its process, so its copy of
    // Effect meets no other. PGlite stays outside: it finds its WebAssembly and data files beside
    // its own modules. `pg-native` is pg's optional native binding, never used.
    entry: { storeProcessCore: "src/internal/storeProcessCore.ts" },
    format: ["cjs"],
    // `import.meta.url` (the core finds the script beside it) from `__filename`.
    shims: true,
    noExternal: [/^(?!@electric-sql\/pglite)/],
    external: ["@electric-sql/pglite", "pg-native"],
    // One file: the core's dynamic imports (the SDK, loaded once PGlite's start began) inline.
    splitting: false,
    minify: true,
    // The map of a bundle is mostly its dependencies' sources (10 MB): left out of the package.
    sourcemap: false
  }
])
