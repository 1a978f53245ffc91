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

// No `clean`: the two builds run at once, and one's cleaning could remove the other's files; the
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
    // The store process, spawned by StoreProcess.ts from beside it: a small script that begins
    // PGlite's start, and its core with its dependencies in the one file: Node loads one module
    // instead of some five hundred (Effect, @effect/*, the SDK), which was most of a cold
    // command's wait beside PGlite's own start. It runs alone in its process, so its copy of
    // Effect meets no other. PGlite stays outside: it finds its WebAssembly and data files beside
    // its own modules. `pg-native` is pg's optional native binding, never used.
    entry: {
      storeProcessMain: "src/internal/storeProcessMain.ts",
      storeProcessCore: "src/internal/storeProcessCore.ts"
    },
    noExternal: [/^(?!@electric-sql\/pglite)/],
    external: ["@electric-sql/pglite", "pg-native"],
    // One file each: the core's dynamic imports (the SDK, loaded once PGlite's start began) inline.
    splitting: false,
    minify: true,
    // The map of a bundle is mostly its dependencies' sources (10 MB): left out of the package.
    sourcemap: false,
    // The CommonJS dependencies inside (pg's parsers, undici) call `require` for Node's modules.
    banner: {
      js: 'import { createRequire as __invkitRequire } from "node:module"; const require = __invkitRequire(import.meta.url);'
    }
  }
])
