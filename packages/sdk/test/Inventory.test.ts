/** The Promise facade of `openInventory()` on an embedded store: the scenarios of inventorySuite.ts. */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, inject } from "vitest"
import { openInventory } from "../src/index.js"
import { inventorySuite } from "./inventorySuite.js"

const root = mkdtempSync(join(tmpdir(), "invkit-sdk-facade-"))
const dataDir = join(root, "data")
cpSync(inject("pgliteTemplateDir"), dataDir, { recursive: true })
afterAll(() => rmSync(root, { recursive: true, force: true }))

inventorySuite("openInventory", {
  kind: "embedded",
  open: () => openInventory({ dataDir }),
  store: () => `embedded store in ${dataDir}`,
  actor: (given) => given,
  syncSupplier: (inventory, id) => inventory.suppliers.sync(id)
})
