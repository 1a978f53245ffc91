import { afterAll, beforeAll, describe } from "vitest"
import { connect, type InventoryClient } from "../../sdk/src/index.js"
import { inventorySuite } from "../../sdk/test/inventorySuite.js"
import { jwtAuth, postgresReachable, startAllOnFreshDatabase, testToken } from "./utils.js"

const reachable = await postgresReachable()

/** The subject of the admin token: the server records it as the actor of every change. */
const SUBJECT = "sdk-scenarios"

let url = ""
let token = ""
const cleanups: Array<() => Promise<unknown>> = []

/** A sync runs in the server's workers: queued, then its run waited for. */
const queueSyncAndWait = async (inventory: InventoryClient, id: string) => {
  const before = (await inventory.suppliers.runs(id, { limit: 1 })).items[0]?.id ?? 0
  await inventory.suppliers.enqueue(id)
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    const [latest] = (await inventory.suppliers.runs(id, { limit: 1 })).items
    if (latest !== undefined && latest.id > before && latest.finishedAt !== null) return latest
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`the queued sync of ${id} did not finish within 20 s`)
}

describe.skipIf(!reachable)("the SDK against inv-server all", () => {
  beforeAll(async () => {
    const server = await startAllOnFreshDatabase({ auth: jwtAuth })
    cleanups.unshift(server.stop)
    url = server.baseUrl
    token = await testToken("admin", SUBJECT)
  })

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  })

  inventorySuite("connect", {
    kind: "remote",
    open: async () => connect({ url, token }),
    store: () => `inv-server at ${url}`,
    actor: () => SUBJECT,
    syncSupplier: queueSyncAndWait
  })
})
