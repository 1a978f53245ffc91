import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { TestProject } from "vitest/node"
import * as Store from "../src/Store.js"

/**
 * Creates and migrates one PGlite data directory for the whole run: a fresh one costs seconds
 * (initdb), a copy of it opens in a fraction of that. Removed after the run.
 */
export default async function setup(project: TestProject) {
  const root = mkdtempSync(join(tmpdir(), "invkit-sdk-template-"))
  const dataDir = join(root, "data")
  await Effect.runPromise(Effect.scoped(Layer.build(Store.layer(Store.embedded(dataDir)))))
  project.provide("pgliteTemplateDir", dataDir)
  return () => rmSync(root, { recursive: true, force: true })
}

declare module "vitest" {
  export interface ProvidedContext {
    /** A migrated PGlite data directory, to copy and never to open. */
    pgliteTemplateDir: string
  }
}
