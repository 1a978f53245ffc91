import { describe } from "vitest"
import { syncJobsSuite } from "./syncJobsSuite.js"
import { POSTGRES_URL, postgresReachable, postgresStore } from "./utils.js"

// Sync jobs on PostgreSQL, in a fresh database: pg-boss opens its own pool to it.
describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  syncJobsSuite(postgresStore)
})
