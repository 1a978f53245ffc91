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
 * Runs `work` once per (consumer, event id), for several events in one transaction: their ids
 * are recorded by one statement in the transaction that runs `work` with the events not recorded
 * before (the first of two with one id), so either both commit or neither does. An id already
 * recorded for the same event (same type and data) is left out of `work`; for another event the
 * whole call fails with a PermanentFailure. A concurrent delivery of the same id waits for the
 * first one's commit, then decides. Answers the events `work` ran for.
 */
export const onceEach = <E, R>(
  consumer: string,
  events: ReadonlyArray<Event.CloudEvent>,
  work: (fresh: ReadonlyArray<Event.CloudEvent>) => Effect.Effect<unknown, E, R>
): Effect.Effect<ReadonlyArray<Event.CloudEvent>, E | SqlError | PermanentFailure, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => {
    const fingerprints = events.map(Event.fingerprint)
    return sql.withTransaction(
      Effect.gen(function* () {
        const recorded = yield* sql<{ eventId: string }>`
          insert into inbox (consumer, event_id, fingerprint)
          select ${consumer}, id, fingerprint
          from unnest(${events.map((event) => event.id)}::text[], ${fingerprints}::text[])
            with ordinality as listed (id, fingerprint, position)
          -- In one order, so two batches that share ids wait for each other instead of deadlocking;
          -- of two with one id, the first is recorded.
          order by id, position
          on conflict (consumer, event_id) do nothing
          returning event_id`
        const newIds = new Set(recorded.map((row) => row.eventId))
        const fresh: Array<Event.CloudEvent> = []
        const again: Array<number> = []
        for (const [i, event] of events.entries()) {
          if (newIds.delete(event.id)) fresh.push(event)
          else again.push(i)
        }
        if (again.length > 0) {
          const firsts = yield* sql<{ eventId: string; fingerprint: string | null }>`
            select event_id, fingerprint from inbox
            where consumer = ${consumer} and event_id = any(${again.map((i) => events[i]!.id)}::text[])`
          const firstOf = new Map(firsts.map((row) => [row.eventId, row.fingerprint]))
          for (const i of again) {
            const first = firstOf.get(events[i]!.id)
            // Rows recorded before fingerprints were kept cannot be compared: taken as the same event.
            if (first != null && first !== fingerprints[i]) {
              const event = events[i]!
              return yield* new PermanentFailure({
                reason: `${event.type} ${event.id}: this id was already used for another event (its type or data differ); send the new event under a new id`
              })
            }
          }
        }
        if (fresh.length > 0) yield* work(fresh)
        return fresh
      })
    )
  })

/** `onceEach` for one event: answers whether `work` ran (false: the event was handled before). */
export const once = <E, R>(
  consumer: string,
  event: Event.CloudEvent,
  work: Effect.Effect<unknown, E, R>
): Effect.Effect<boolean, E | SqlError | PermanentFailure, R | SqlClient.SqlClient> =>
  Effect.map(
    onceEach(consumer, [event], () => work),
    (fresh) => fresh.length === 1
  )
