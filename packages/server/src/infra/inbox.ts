/**
 * The consumer side of exactly-once effects: an event id is recorded per consumer in `inbox` (a
 * table of the SDK's migrations) in the same transaction as the consumer's work. The broker
 * delivers at least once; the inbox turns a redelivery into a no-op, and refuses another event
 * sent under an id already used.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import { PermanentFailure } from "./redelivery.js"

/**
 * Runs `work` once per (consumer, event id): the id is recorded in the same transaction, so
 * either both commit or neither does. An id already recorded for the same event (same type and
 * data) skips `work` and answers `false`; for another event it fails with a PermanentFailure. A
 * concurrent delivery of the same id waits for the first one's commit, then decides.
 */
export const once = <E, R>(
  consumer: string,
  event: Event.CloudEvent,
  work: Effect.Effect<unknown, E, R>
): Effect.Effect<boolean, E | SqlError | PermanentFailure, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const fingerprint = Event.fingerprint(event)
    return sql.withTransaction(
      Effect.gen(function* () {
        const recorded = yield* sql`
          insert into inbox (consumer, event_id, fingerprint) values (${consumer}, ${event.id}, ${fingerprint})
          on conflict (consumer, event_id) do nothing
          returning event_id`
        if (recorded.length === 1) {
          yield* work
          return true
        }
        const [first] = yield* sql<{ fingerprint: string | null }>`
          select fingerprint from inbox where consumer = ${consumer} and event_id = ${event.id}`
        // Rows recorded before fingerprints were kept cannot be compared: taken as the same event.
        if (first?.fingerprint != null && first.fingerprint !== fingerprint) {
          return yield* new PermanentFailure({
            reason: `${event.type} ${event.id}: this id was already used for another event (its type or data differ); send the new event under a new id`
          })
        }
        return false
      })
    )
  })
