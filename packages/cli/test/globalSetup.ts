import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { TestProject } from "vitest/node"
import { requireBuiltCli, runInv } from "./inv.js"

/** Creates one migrated store; each test file works on its own copy of it. */
export default async function setup(project: TestProject) {
  requireBuiltCli()
  const root = mkdtempSync(join(tmpdir(), "inv-cli-template-"))
  const templateDataDir = join(root, "data")
  const run = await runInv(["--data-dir", templateDataDir, "stock", "overview"])
  if (run.code !== 0) throw new Error(`cannot prepare the template store: ${run.stderr}`)
  project.provide("templateDataDir", templateDataDir)
  project.provide("scratchDir", root)
  return () => rmSync(root, { recursive: true, force: true })
}
