import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { afterAll, describe } from "vitest"
import { openInventory } from "../src/Inventory.js"
import { importSuite } from "./importSuite.js"
import { freshPostgresDatabase, POSTGRES_URL, postgresReachable } from "./utils.js"

// Bulk import and export on PostgreSQL (the COPY path): each store a fresh database of its own.
const scope = Effect.runSync(Scope.make())
afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)))

describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  importSuite(async () =>
    openInventory({ databaseUrl: await Effect.runPromise(Scope.extend(freshPostgresDatabase, scope)) })
  )
})
