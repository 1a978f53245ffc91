import { createHash } from "node:crypto"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { IdempotencyKeyReused } from "../InventoryError.js"

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

/**
 * Stripe semantics, inside the caller's transaction: the first request with a key claims it and
 * stores its answer; the same key with the same request gets that answer again and applies
 * nothing; the same key with another request fails. A concurrent duplicate blocks on the key's
 * unique index until the first commits (then replays) or rolls back (then runs itself), so a
 * failed request leaves no key behind and may be retried with it.
 */
export const withIdempotencyKey = <A, I, E, R>(
  sql: SqlClient.SqlClient,
  key: string | undefined,
  hashOf: () => string,
  response: Schema.Schema<A, I>,
  work: Effect.Effect<A, E, R>
): Effect.Effect<A, E | IdempotencyKeyReused | SqlError, R> => {
  if (key === undefined) return work
  const hash = hashOf()
  return Effect.gen(function* () {
    // Forget expired keys as new ones arrive: this one, and a bounded batch of others.
    yield* sql`
      delete from idempotency_keys where key in (
        select key from idempotency_keys
        where created_at < now() - interval '${sql.unsafe(KEY_RETENTION)}'
        order by (key = ${key}) desc
        limit 100)`
    const claimed = yield* sql`
      insert into idempotency_keys (key, request_hash) values (${key}, ${hash})
      on conflict (key) do nothing
      returning key`
    if (claimed.length === 0) {
      const [stored] = yield* sql<{ requestHash: string; response: unknown }>`
        select request_hash, response from idempotency_keys where key = ${key}`
      if (stored === undefined || stored.requestHash !== hash) return yield* new IdempotencyKeyReused({ key })
      return yield* Effect.orDie(Schema.decodeUnknown(response)(stored.response))
    }
    const result = yield* work
    const encoded = yield* Effect.orDie(Schema.encode(response)(result))
    yield* sql`update idempotency_keys set response = ${JSON.stringify(encoded)}::jsonb where key = ${key}`
    return result
  })
}
