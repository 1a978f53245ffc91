/**
 * The migrations check on open: a store that has every migration is checked with one statement
 * (the migrator alone sends four, and a transaction, on every open). A fresh store still gets every
 * migration: the global setup creates the template that every other test copies that way.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import { afterAll, describe, expect, inject, it } from "vitest"
import { runMigrations } from "../src/internal/migrations.js"
import * as PgliteClient from "../src/internal/pgliteClient.js"

const root = mkdtempSync(join(tmpdir(), "invkit-sdk-migrations-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** Runs `effect` on a copy of the migrated template; answers the SQL text of every statement it sent. */
const statementsOf = <A, E>(name: string, effect: Effect.Effect<A, E, SqlClient.SqlClient>) => {
  const dataDir = join(root, name)
  cpSync(inject("pgliteTemplateDir"), dataDir, { recursive: true })
  const spans: Array<Tracer.Span> = []
  return Effect.runPromise(
    Effect.gen(function* () {
      const tracer = yield* Effect.tracer
      // @effect/sql runs every statement in a span `sql.execute` that carries its text.
      const recording = Tracer.make({
        span: (...args) => {
          const span = tracer.span(...args)
          if (args[0] === "sql.execute") spans.push(span)
          return span
        },
        context: tracer.context
      })
      yield* Effect.withTracer(effect, recording)
      return spans.map((span) => String(span.attributes.get("db.query.text")))
    }).pipe(Effect.provide(PgliteClient.layer({ dataDir })), Effect.scoped)
  )
}

describe("the migrations check", () => {
  it("sends one statement to a store that has every migration", async () => {
    const sent = await statementsOf("up-to-date", runMigrations)
    expect(sent).toEqual([
      expect.stringMatching(/^select max\(migration_id\) as latest from "effect_sql_migrations"$/)
    ])
  })

  it("runs the migrator when one is pending, which applies it", async () => {
    const sent = await statementsOf(
      "pending",
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        // As if the migrations from 0010 on had not been applied: their records gone, and the
        // table 0010 created (0011 drops what may not exist, so it runs again as it is).
        yield* sql`delete from effect_sql_migrations where migration_id >= 10`
        yield* sql`drop table reservations`
        yield* runMigrations
        const [found] = yield* sql<{
          found: boolean
        }>`select to_regclass('reservations') is not null as found`
        expect(found?.found).toBe(true)
      })
    )
    expect(sent.some((text) => /LOCK TABLE/i.test(text))).toBe(true)
  })
})
