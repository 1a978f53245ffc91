import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as StoreProcess from "@invkit/sdk/store-process"
import type { TestProject } from "vitest/node"
import { requireBuiltCli, runInv } from "./inv.js"

/** Every store process the run started: one per data directory under `root` that has a socket. */
const stopStoreProcesses = async (root: string) => {
  const socket = StoreProcess.SOCKET_FILE
  const dirs = readdirSync(root, { recursive: true, encoding: "utf8" })
    .filter((path) => path === socket || path.endsWith(`/${socket}`))
    .map((path) => join(root, path, ".."))
  await Promise.all(dirs.map((dir) => StoreProcess.stop(dir).catch(() => undefined)))
}

/**
 * Creates one migrated store; each test file works on its own copy of it (made in-process, so no
 * store process holds the template while it is copied).
 */
export default async function setup(project: TestProject) {
  requireBuiltCli()
  const root = mkdtempSync(join(tmpdir(), "inv-cli-template-"))
  const templateDataDir = join(root, "data")
  const run = await runInv(["--data-dir", templateDataDir, "stock", "overview"], { INV_STORE_PROCESS: "off" })
  if (run.code !== 0) throw new Error(`cannot prepare the template store: ${run.stderr}`)
  project.provide("templateDataDir", templateDataDir)
  project.provide("scratchDir", root)
  return async () => {
    await stopStoreProcesses(root)
    rmSync(root, { recursive: true, force: true })
  }
}
