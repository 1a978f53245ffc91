import { createHash } from "node:crypto"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { IdempotencyKeyReused, InventoryError, rememberedRefusal } from "../InventoryError.js"
import { sender } from "./directStatement.js"
import { failOnSqlDefect } from "./validation.js"

/** How long a key is remembered. Documented in docs/sdk.md; Stripe keeps keys for 24 hours too. */
export const KEY_RETENTION = "24 hours"

const canonical = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(canonical)
    : value !== null && typeof value === "object" && !(value instanceof Date)
      ? Object.fromEntries(
          Object.entries(value)
            .filter(([, v]) => v !== undefined)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([k, v]) => [k, canonical(v)])
        )
      : value

export const requestHash = (operation: string, request: unknown): string =>
  createHash("sha256")
    .update(JSON.stringify([operation, canonical(request)]))
    .digest("hex")

/** A stored refusal, told apart from a stored answer (no answer has this single field). */
const StoredRefusal = Schema.Struct({ refusal: InventoryError })

/**
 * One transaction with Stripe semantics: the first request with a key claims it and stores its
 * answer, or its refusal (`rememberedRefusal`) with the work undone; the same key with the same
 * request gets that answer or refusal again and applies nothing; the same key with another request
 * fails. A concurrent duplicate blocks on the key's unique index until the first commits (then
 * replays) or rolls back (then runs itself). Any other failure, a store failure above all, rolls
 * everything back and leaves no key behind, so the request may be retried with it.
 * `refusesUndone`: the work already undoes its own writes before it refuses (a savepoint of its
 * own), so a second savepoint here would only cost a round trip.
 */
export const keyedTransaction = <A, I, E, R>(
  sql: SqlClient.SqlClient,
  key: string | undefined,
  hashOf: () => string,
  response: Schema.Schema<A, I>,
  work: Effect.Effect<A, E, R>,
  refusesUndone = false
): Effect.Effect<A, E | IdempotencyKeyReused | SqlError, R> => {
  if (key === undefined) return failOnSqlDefect(sql.withTransaction(work))
  const hash = hashOf()
  // The key's own statements run on every keyed write: sent without @effect/sql's wrapping.
  const send = sender(sql)
  const answer: Effect.Effect<Exit.Exit<A, unknown>, E | SqlError, R> = Effect.gen(function* () {
    // Forget expired keys as new ones arrive: this one, and a bounded batch of others.
    yield* send(sql`
      delete from idempotency_keys where key in (
        select key from idempotency_keys
        where created_at < now() - interval '${sql.unsafe(KEY_RETENTION)}'
        order by (key = ${key}) desc
        limit 100)`)
    const claimed = yield* send(sql`
      insert into idempotency_keys (key, request_hash) values (${key}, ${hash})
      on conflict (key) do nothing
      returning key`)
    if (claimed.length === 0) {
      const [stored] = yield* sql<{ requestHash: string; response: unknown }>`
        select request_hash, response from idempotency_keys where key = ${key}`
      if (stored === undefined || stored.requestHash !== hash)
        return Exit.fail(new IdempotencyKeyReused({ key }))
      if (Schema.is(Schema.Struct({ refusal: Schema.Unknown }))(stored.response)) {
        const { refusal } = yield* Effect.orDie(Schema.decodeUnknown(StoredRefusal)(stored.response))
        return Exit.fail(refusal)
      }
      return Exit.succeed(yield* Effect.orDie(Schema.decodeUnknown(response)(stored.response)))
    }
    // A savepoint: a refusal undoes the work but keeps the claim, to commit it with the refusal.
    const outcome = yield* Effect.exit(refusesUndone ? work : sql.withTransaction(work))
    const refusal = Exit.isFailure(outcome)
      ? Option.filter(Cause.failureOption(outcome.cause), rememberedRefusal)
      : Option.none()
    if (Option.isSome(refusal)) {
      const encoded = yield* Effect.orDie(Schema.encode(StoredRefusal)({ refusal: refusal.value }))
      yield* sql`update idempotency_keys set response = ${JSON.stringify(encoded)}::jsonb where key = ${key}`
      return outcome
    }
    const result = yield* outcome
    const encoded = yield* Effect.orDie(Schema.encode(response)(result))
    yield* send(
      sql`update idempotency_keys set response = ${JSON.stringify(encoded)}::jsonb where key = ${key}`
    )
    return outcome
  })
  // The refusal is given after the commit that keeps it.
  return Effect.flatten(failOnSqlDefect(sql.withTransaction(answer))) as Effect.Effect<
    A,
    E | IdempotencyKeyReused | SqlError,
    R
  >
}
