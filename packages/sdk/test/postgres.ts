/**
 * The PostgreSQL test server: whether it answers, and fresh databases on it. Kept apart from
 * utils.ts (which needs the SDK's vitest setup) so that the server package's tests share it.
 */
import { randomBytes } from "node:crypto"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import pg from "pg"

/** The server the PostgreSQL tests use; each test file works in a database of its own on it. */
export const POSTGRES_URL = process.env.INV_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const databaseUrl = (database: string) => {
  const url = new URL(POSTGRES_URL)
  url.pathname = `/${database}`
  return url.toString()
}

const withAdminClient = async <A>(use: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end()
  }
}

/**
 * Whether the PostgreSQL tests can run. Unreachable with CI=true is a failure, so a CI run never
 * passes without them; elsewhere they are skipped, and the skip is printed.
 */
export const postgresReachable = async (): Promise<boolean> => {
  try {
    await withAdminClient((client) => client.query("select 1"))
    return true
  } catch (error) {
    const problem = `PostgreSQL at ${POSTGRES_URL} is not reachable (${(error as Error).message})`
    if (process.env.CI === "true") {
      throw new Error(`${problem}. CI=true, so this fails instead of skipping: start PostgreSQL.`)
    }
    console.warn(`SKIPPING the PostgreSQL tests: ${problem}. With CI=true this is a failure.`)
    return false
  }
}

/**
 * A fresh, empty database `<prefix>_<random>` on the test server: its URL, and `drop`, which drops
 * it with its connections. The server package's tests use it too.
 */
export const createTestDatabase = async (prefix = "inv_test") => {
  const database = `${prefix}_${randomBytes(6).toString("hex")}`
  await withAdminClient((client) => client.query(`create database ${database}`))
  return {
    url: databaseUrl(database),
    drop: () =>
      withAdminClient((client) => client.query(`drop database if exists ${database} with (force)`)).then(
        () => undefined
      )
  }
}

/**
 * `createTestDatabase` for the length of the scope: its URL. For tests that open the store
 * themselves, e.g. several `openInventory` instances on one database.
 */
export const freshPostgresDatabase: Effect.Effect<string, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.promise(() => createTestDatabase()),
    (database) => Effect.promise(database.drop)
  ),
  (database) => database.url
)
