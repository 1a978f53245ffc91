import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, inject } from "vitest"
import { openInventory } from "../src/Inventory.js"
import { importSuite } from "./importSuite.js"

// Bulk import and export on PGlite, the embedded store: each store a copy of the template.
const roots: Array<string> = []
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true })
})

importSuite(() => {
  const root = mkdtempSync(join(tmpdir(), "invkit-sdk-import-"))
  roots.push(root)
  cpSync(inject("pgliteTemplateDir"), join(root, "data"), { recursive: true })
  return openInventory({ dataDir: join(root, "data") })
})
