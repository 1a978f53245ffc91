import { describe } from "vitest"
import { storeSuite } from "./storeSuite.js"
import { POSTGRES_URL, postgresReachable, postgresStore } from "./utils.js"

// The store suite on PostgreSQL: each block in a fresh database of its own.
describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  storeSuite(postgresStore)
})
