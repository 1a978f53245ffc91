/**
 * Shared test layers: a real store per test file (a copy of the PGlite template, or a fresh
 * PostgreSQL database), and the ledger checks every suite runs over all rows.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { expect, inject } from "vitest"
import * as Inventory from "../src/Inventory.js"
import * as Store from "../src/Store.js"
import { freshPostgresDatabase } from "./postgres.js"

export { createTestDatabase, freshPostgresDatabase, POSTGRES_URL, postgresReachable } from "./postgres.js"

/** Every inventory service and the store's own SqlClient, for direct SQL checks. */
export type TestStore = ReturnType<typeof Inventory.layer>

/** A PGlite store copied from the template the global setup migrated; deleted when the layer closes. */
export const embeddedStore = (): TestStore =>
  Layer.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => {
          const root = mkdtempSync(join(tmpdir(), "invkit-sdk-store-"))
          cpSync(inject("pgliteTemplateDir"), join(root, "data"), { recursive: true })
          return root
        }),
        (root) => Effect.sync(() => rmSync(root, { recursive: true, force: true }))
      ),
      (root) => Inventory.layer(Store.embedded(join(root, "data")))
    )
  )

/**
 * A fresh database on the test server, migrated on open, so test files never see each other's
 * rows and can run in parallel. Dropped when the layer closes.
 */
export const postgresStore = (): TestStore =>
  Layer.unwrapScoped(Effect.map(freshPostgresDatabase, (url) => Inventory.layer(Store.postgres(url))))

/** Row counts a rejected write must leave as they were. */
export const storeTotals = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ movements: number; events: number; levels: number; units: number; versions: number; keys: number }>`
    select (select count(*)::int from stock_movements) as movements,
           (select count(*)::int from outbox) as events,
           (select count(*)::int from stock_levels) as levels,
           (select coalesce(sum(on_hand), 0)::int from stock_levels) as units,
           (select coalesce(sum(version), 0)::int from stock_levels) as versions,
           (select count(*)::int from idempotency_keys) as keys`.pipe(Effect.map((rows) => rows[0]!))
)

/**
 * The ledger invariants, over every row of the store:
 * - the level of every (sku, location) equals the sum of its movements' deltas, and the
 *   `quantity_after` of its latest movement; no movement exists without a level;
 * - every movement has exactly one `stock.updated` event, with its sku, delta and quantity after.
 * Answers how many levels it checked, so a caller can tell it did not check nothing.
 */
export const expectLedgerConsistent = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const unbalanced = yield* sql`
    select coalesce(l.sku, m.sku) as sku, coalesce(l.location, m.location) as location,
           l.on_hand, m.total, m.last_quantity_after
    from stock_levels l
    full join (
      select sku, location, sum(delta)::int as total,
             (array_agg(quantity_after order by id desc))[1] as last_quantity_after
      from stock_movements group by sku, location
    ) m on m.sku = l.sku and m.location = l.location
    where l.on_hand is distinct from m.total or l.on_hand is distinct from m.last_quantity_after`
  expect(unbalanced).toEqual([])

  const unannounced = yield* sql`
    select m.id, m.sku, m.delta, m.quantity_after, count(o.id)::int as events
    from stock_movements m
    left join outbox o on o.type = 'stock.updated' and (o.data ->> 'movementId')::bigint = m.id
      and o.subject = m.sku and (o.data ->> 'delta')::int = m.delta
      and (o.data ->> 'onHand')::int = m.quantity_after and o.data ->> 'location' = m.location
    group by m.id
    having count(o.id) <> 1`
  expect(unannounced).toEqual([])

  const [counts] = yield* sql<{ movements: number; events: number; levels: number }>`
    select (select count(*)::int from stock_movements) as movements,
           (select count(*)::int from outbox where type = 'stock.updated') as events,
           (select count(*)::int from stock_levels) as levels`
  expect(counts!.events).toBe(counts!.movements)
  return counts!.levels
})
