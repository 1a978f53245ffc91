/**
 * The consumer side of exactly-once effects: an event id is recorded per consumer in `inbox` in
 * the same transaction as the consumer's work. The broker delivers at least once; the inbox
 * turns a redelivery into a no-op.
 *
 * Also how a consumer says a failure is permanent (`PermanentFailure`): retrying would fail the
 * same way, so the event goes to the dead-letter queue at once.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** A failure that no retry can fix (an invalid event, a sale of stock that is not there). */
export class PermanentFailure extends Data.TaggedError("PermanentFailure")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export const isPermanentFailure = (cause: Cause.Cause<unknown>): boolean =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => false,
    onSome: (error) =>
      typeof error === "object" && error !== null && "_tag" in error && error._tag === "PermanentFailure"
  })

/** One line saying why a consumer failed, for logs and the dead-letter header. */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const error = Cause.squash(cause)
  if (error instanceof PermanentFailure) return error.reason
  if (error instanceof Error) {
    const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : error.name
    return error.message ? `${tag}: ${error.message}` : tag
  }
  if (typeof error === "object" && error !== null) {
    const tag = "_tag" in error ? String(error._tag) : "error"
    const reason = "reason" in error ? String(error.reason) : JSON.stringify(error)
    return `${tag}: ${reason}`
  }
  return String(error)
}

/**
 * Creates the `inbox` table if it is missing. Several processes may start at once: a lost race
 * on the catalog (the table appeared meanwhile) is fine.
 */
export const ensureInbox: Effect.Effect<void, SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => {
    const create = sql`
      create table if not exists inbox (
        consumer text not null,
        event_id text not null,
        processed_at timestamptz not null default now(),
        primary key (consumer, event_id)
      )`
    return create.pipe(Effect.retry({ times: 2 }), Effect.asVoid)
  }
)

/**
 * Runs `work` once per (consumer, event id): the id is recorded in the same transaction, so
 * either both commit or neither does. An id already recorded skips `work` and answers `false`;
 * a concurrent delivery of the same id waits for the first one's commit, then skips.
 */
export const once = <E, R>(
  consumer: string,
  event: { readonly id: string },
  work: Effect.Effect<unknown, E, R>
): Effect.Effect<boolean, E | SqlError, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.gen(function* () {
        const recorded = yield* sql`
          insert into inbox (consumer, event_id) values (${consumer}, ${event.id})
          on conflict (consumer, event_id) do nothing
          returning event_id`
        if (recorded.length === 0) return false
        yield* work
        return true
      })
    )
  )
