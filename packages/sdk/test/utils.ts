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
 * - every movement has exactly one event, with its sku, location, delta and quantity after: its
 *   `stock.updated`, or its level's entry in a `stock.imported` of the import that wrote it.
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

  // A movement is announced by its own `stock.updated`, or, written by an import, listed in one of
  // that import's `stock.imported` events (one movement per level and import).
  const unannounced = yield* sql`
    with updated as (
      select (data ->> 'movementId')::bigint as id, subject as sku, data ->> 'location' as location,
             (data ->> 'delta')::int as delta, (data ->> 'onHand')::int as on_hand, count(*)::int as n
      from outbox where type = 'stock.updated' group by 1, 2, 3, 4, 5
    ),
    imported as (
      select o.data ->> 'reference' as reference, e ->> 'sku' as sku, e ->> 'location' as location,
             (e ->> 'delta')::int as delta, (e ->> 'onHand')::int as on_hand, count(*)::int as n
      from outbox o cross join jsonb_array_elements(o.data -> 'levels') e
      where o.type = 'stock.imported' group by 1, 2, 3, 4, 5
    )
    select m.id, m.sku, m.delta, m.quantity_after, coalesce(u.n, 0) + coalesce(i.n, 0) as events
    from stock_movements m
    left join updated u on u.id = m.id and u.sku = m.sku and u.location = m.location
      and u.delta = m.delta and u.on_hand = m.quantity_after
    left join imported i on i.reference = m.reference and i.sku = m.sku and i.location = m.location
      and i.delta = m.delta and i.on_hand = m.quantity_after
    where coalesce(u.n, 0) + coalesce(i.n, 0) <> 1`
  expect(unannounced).toEqual([])

  const [counts] = yield* sql<{ movements: number; events: number; levels: number }>`
    select (select count(*)::int from stock_movements) as movements,
           (select count(*)::int from outbox where type = 'stock.updated')
             + (select coalesce(sum(jsonb_array_length(data -> 'levels')), 0)::int from outbox
                where type = 'stock.imported') as events,
           (select count(*)::int from stock_levels) as levels`
  expect(counts!.events).toBe(counts!.movements)
  return counts!.levels
})
