/**
 * Idempotency keys for any write that runs in one transaction: the first request with a key
 * applies and stores its answer, or its refusal (a not found, a conflict: see `rememberedRefusal`);
 * the same key and request answer that again and apply nothing;
 * the same key with another request fails with `IdempotencyKeyReused`. The stock writes take their
 * key as an option; a server uses `once` for the rest of its writes (products, suppliers, orders).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type { IdempotencyKeyReused, StoreError } from "./InventoryError.js"
import { keyedTransaction, requestHash } from "./internal/idempotency.js"
import { storeFailure } from "./internal/validation.js"

const isSqlError = (error: unknown): error is SqlError => error instanceof SqlError

export const once = <A, I, E, R>(options: {
  /** None: the work runs as it is. */
  readonly key: string | undefined
  /** Names the write, so one key cannot replay another operation's answer. */
  readonly operation: string
  readonly request: unknown
  /** How the answer is stored and given back. */
  readonly response: Schema.Schema<A, I>
  readonly work: Effect.Effect<A, E, R>
}): Effect.Effect<A, E | IdempotencyKeyReused | StoreError, R | SqlClient.SqlClient> => {
  const { key, operation, request, response, work } = options
  if (key === undefined) return work
  return Effect.flatMap(SqlClient.SqlClient, (sql) =>
    keyedTransaction(sql, key, () => requestHash(operation, request), response, work).pipe(
      Effect.catchIf(isSqlError, (error) => Effect.fail(storeFailure(error)))
    )
  )
}
