/**
 * The outbox relay: publishes the `outbox` rows that stock changes (and restock, suppliers)
 * committed, in id order, with broker confirms, and marks them sent.
 *
 * Ordering and duplicates: one relay publishes at a time. Each round is one transaction that
 * first takes `pg_try_advisory_xact_lock(RELAY_LOCK)`; a relay that does not get it waits for
 * the next round. The holder claims the oldest unsent rows (`for update`), publishes them, marks
 * them `sent_at` and commits, which also releases the lock. So rows go out in id order, and rows
 * of one (SKU, location) are written in the order of their versions (a writer holds the level's
 * row lock until it commits), so consumers see them in that order. Any number of relays may run
 * (one per service instance): the others are hot standbys.
 *
 * Nothing is lost: a row stays unsent until the broker confirmed it and its mark committed. If the
 * broker is down the round fails, rolls back, and is retried with capped exponential backoff. A
 * crash between the confirm and the commit publishes the rows again: consumers de-duplicate by
 * event id (the inbox), so each change reaches their effects once.
 *
 * Plain SQL that PostgreSQL and PGlite both run.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event } from "@invkit/sdk"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { type BrokerError, EventBus } from "./events.js"

/** The advisory lock key of the relay: any constant that no other code uses. */
export const RELAY_LOCK = 4_720_117_311

export interface RelayOptions {
  /** Rows per round (one transaction, one confirmed publish). Default 200. */
  readonly batchSize?: number
  /** How long to wait before looking again when nothing was left to publish. Default 100 ms. */
  readonly idle?: Duration.DurationInput
  /** The longest wait between attempts while the broker or database is failing. Default 5 s. */
  readonly maxBackoff?: Duration.DurationInput
}

interface OutboxRow {
  readonly id: number
  readonly eventId: string
  readonly type: string
  readonly subject: string
  readonly data: unknown
  readonly createdAt: Date | string
}

/**
 * One round: publishes up to `batchSize` unsent rows and marks them sent. Answers how many it
 * published; 0 when there was nothing, or when another relay holds the lock.
 */
export const publishPending = (
  batchSize = 200
): Effect.Effect<number, SqlError | BrokerError, SqlClient.SqlClient | EventBus> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const bus = yield* EventBus
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        const [lock] = yield* sql<{
          locked: boolean
        }>`select pg_try_advisory_xact_lock(${RELAY_LOCK}) as locked`
        if (!lock?.locked) return 0
        const rows = yield* sql<OutboxRow>`
          select id, event_id::text as event_id, type, subject, data, created_at
          from outbox where sent_at is null
          order by id
          limit ${batchSize}
          for update`
        if (rows.length === 0) return 0
        yield* bus.publish(
          rows.map((row) =>
            Event.toCloudEvent({
              eventId: row.eventId,
              type: row.type,
              subject: row.subject,
              // A jsonb column arrives parsed from pg, as text from some drivers.
              data: typeof row.data === "string" ? JSON.parse(row.data) : row.data,
              createdAt: row.createdAt instanceof Date ? row.createdAt : new Date(row.createdAt)
            })
          )
        )
        yield* sql`update outbox set sent_at = now() where id in ${sql.in(rows.map((row) => row.id))}`
        return rows.length
      })
    )
  })

const whyFailed = (error: unknown) =>
  typeof error === "object" && error !== null && "reason" in error
    ? String(error.reason)
    : error instanceof Error
      ? error.message
      : String(error)

/**
 * Publishes the outbox for as long as it runs: a full batch is followed at once by the next, an
 * empty round waits `idle`; failures are logged and retried with capped exponential backoff.
 */
export const runRelayWith = (
  options: RelayOptions = {}
): Effect.Effect<never, never, SqlClient.SqlClient | EventBus> => {
  const batchSize = options.batchSize ?? 200
  const idle = options.idle ?? "100 millis"
  const backoff = Schedule.exponential("100 millis").pipe(
    Schedule.union(Schedule.spaced(options.maxBackoff ?? "5 seconds")),
    Schedule.jittered
  )
  const round = publishPending(batchSize).pipe(
    Effect.catchAllDefect((defect) => Effect.fail(defect)),
    Effect.tapError((error) =>
      Effect.logWarning(`outbox relay: cannot publish yet, retrying: ${whyFailed(error)}`)
    ),
    Effect.retry(backoff),
    // The schedule never ends, so the retry never gives up; this only tells the types.
    Effect.orDie,
    Effect.flatMap((published) => (published < batchSize ? Effect.sleep(idle) : Effect.void))
  )
  return Effect.forever(round).pipe(Effect.annotateLogs({ component: "outbox-relay" }))
}

/** The relay with its defaults: what a service runs. */
export const runRelay: Effect.Effect<never, never, SqlClient.SqlClient | EventBus> = runRelayWith()
