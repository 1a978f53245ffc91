import { describe } from "vitest"
import { supplierSyncSuite } from "./supplierSyncSuite.js"
import { POSTGRES_URL, postgresReachable, postgresStore } from "./utils.js"

// Suppliers and catalog syncs on PostgreSQL: each block in a fresh database of its own.
describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  supplierSyncSuite(postgresStore)
})
