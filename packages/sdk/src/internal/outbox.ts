/**
 * The outbox rows a writer adds in its own transaction, so an event is published if and only if
 * its change commits. Every writer goes through here, so every event carries the trace context of
 * the change that made it, and every transaction that wrote events is announced once it has
 * committed (`announcingCommits`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
// Types only: Event.ts imports the catalog's schemas, and the catalog writes through this module.
import type { EventType } from "../Event.js"
import { inheritDirect, transactionIn } from "./directStatement.js"
import { currentTraceparent } from "./traceContext.js"

/**
 * Whether the outermost transaction running now wrote events, by the connection that transaction
 * holds: `announcingCommits` puts a fresh cell here as the transaction begins and reads it after
 * its COMMIT. By the connection rather than in a fiber-local cell: a mark made in a child fiber (a
 * group commit's units run in the committer's fibers) finds it in its context all the same, and
 * no `Effect.locally` (some 20 Effect operations) runs per transaction.
 */
const eventsWritten = new WeakMap<object, { written: boolean }>()

/**
 * Marks the running transaction as one that wrote events. Called where the statement is built:
 * `insertEvents` is a fragment inside other statements (no effect of its own to hang a mark on),
 * and it is built in the fiber that runs it. An event written outside a transaction goes unmarked:
 * every writer writes its events in its change's transaction.
 */
const markEventsWritten = () => {
  const fiber = Fiber.getCurrentFiber()
  if (Option.isNone(fiber)) return
  const connection = transactionIn(fiber.value.currentContext)
  const cell = connection === undefined ? undefined : eventsWritten.get(connection)
  if (cell !== undefined) cell.written = true
}

/**
 * `sql` whose transactions call `announce` after a COMMIT that wrote events, outside the
 * transaction and in the committing fiber. This is the lowest place that knows both facts (the
 * events are marked by the helpers below, the commit is the outermost `withTransaction`'s), so no
 * writer (stock writes, group commit, restock, reservations, imports, syncs) announces on its own.
 * A savepoint announces nothing: its outermost transaction does, once.
 */
export const announcingCommits = (
  sql: SqlClient.SqlClient,
  announce: Effect.Effect<void>
): SqlClient.SqlClient => {
  const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) => {
      if (Option.isSome(outer)) return sql.withTransaction(effect)
      const cell = { written: false }
      const begun = Effect.withFiberRuntime<void>((fiber) => {
        const connection = transactionIn(fiber.currentContext)
        if (connection !== undefined) eventsWritten.set(connection, cell)
        return Effect.void
      })
      return Effect.tap(sql.withTransaction(Effect.zipRight(begun, effect)), () =>
        cell.written ? announce : Effect.void
      )
    })
  // The client is a function with methods: a copy that calls the original, with its transactions.
  const client: SqlClient.SqlClient = Object.assign((...args: Array<unknown>) => (sql as any)(...args), sql, {
    withTransaction
  }) as any
  ;(client as any).safe = client
  announcers.set(client, announce)
  inheritDirect(sql, client)
  return client
}

/** What each announcing client does after a commit that wrote events, for `committedAlone`. */
const announcers = new WeakMap<SqlClient.SqlClient, Effect.Effect<void>>()

/**
 * `statement`, a write that adds outbox events, sent outside any transaction, so that the database
 * commits it on its own (one statement is atomic), and announced like a transaction's COMMIT. For
 * a write that is a single statement: a BEGIN and a COMMIT around it would cost two round trips
 * and the client's transaction machinery, and change nothing. Only where no transaction is open:
 * inside one, the statement would be part of it and the announcement too early. The caller knows
 * the statement writes events, so it is announced after every success; one that succeeded without
 * writing any (a group's statement whose every change was declined) is announced anyway, which
 * costs a relay one look that finds nothing.
 */
export const committedAlone = <A, E, R>(
  sql: SqlClient.SqlClient,
  statement: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => {
  const announce = announcers.get(sql)
  return announce === undefined ? statement : Effect.tap(statement, () => announce)
}

/** One event, with the current span's trace context. */
export const writeEvent = (sql: SqlClient.SqlClient, type: EventType, subject: string, data: unknown) =>
  Effect.flatMap(currentTraceparent, (traceparent) => {
    markEventsWritten()
    return sql`insert into outbox (type, subject, data, traceparent)
          values (${type}, ${subject}, ${JSON.stringify(data)}::jsonb, ${traceparent})`
  })

/**
 * The events a statement's rows make, as a data-modifying part of that statement (a CTE):
 * `events` selects `type`, `subject` and `data` (jsonb), one row per event. `traceparent` is
 * passed in: a grouped write reads it once for all its statements. A statement that writes the
 * changes of several requests passes, instead, an expression over the event row `e` (its events
 * then select their own trace context), so each event keeps its request's. Returns a row per
 * event, for a statement that counts them.
 */
export const insertEvents = (
  sql: SqlClient.SqlClient,
  events: Statement.Fragment,
  traceparent: string | null | Statement.Fragment
) => {
  markEventsWritten()
  const trace = Statement.isFragment(traceparent) ? traceparent : sql`${traceparent}`
  return sql`insert into outbox (type, subject, data, traceparent)
      select e.type, e.subject, e.data, ${trace} from (${events}) e
      returning 1`
}

/**
 * Several events of one type, in one statement and in the given order, with the current span's
 * trace context: a supplier sync may add thousands of products at once.
 */
export const writeEvents = (
  sql: SqlClient.SqlClient,
  type: EventType,
  events: ReadonlyArray<{ readonly subject: string; readonly data: unknown }>
) =>
  Effect.flatMap(currentTraceparent, (traceparent) =>
    insertEvents(
      sql,
      sql`select ${type}::text as type, given.value->>'subject' as subject, given.value->'data' as data
          from jsonb_array_elements(${JSON.stringify(events)}::jsonb) with ordinality as given
          order by given.ordinality`,
      traceparent
    )
  )
