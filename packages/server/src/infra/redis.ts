/**
 * What every Redis client of the server shares: commands that fail fast instead of queueing while
 * Redis is away, and the deployment's namespace, which starts every key (cache, rate limit), so
 * deployments sharing one Redis never read or count each other's keys.
 *
 * The namespace is `INV_REDIS_PREFIX` when set. Otherwise it is derived from the database's own
 * identity, read once the store is open: PostgreSQL's system identifier (chosen by initdb, kept
 * across restarts) and the database's name. Every process of a deployment reaches the same
 * database, so they agree whatever address each uses (a proxy, a DNS alias), and two deployments
 * whose URLs read alike (`postgres:5432/inv` in two Kubernetes namespaces) still differ. A restore
 * into a new cluster or a renamed database gives a new namespace: a cold cache, never a wrong one.
 * Clones of one cluster (a base backup, a promoted replica) share the identifier: give them
 * `INV_REDIS_PREFIX` if they share a Redis.
 */
import { createHash } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { Redis, type RedisOptions } from "ioredis"

/**
 * The options of every Redis client of the server: its commands fail within `commandTimeoutMs`
 * while Redis is slow or away, and it reconnects within a second once Redis is back.
 */
export const failingFast = (commandTimeoutMs: number): RedisOptions => ({
  // Without these, commands queue up while Redis is away and every request hangs.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: commandTimeoutMs,
  connectTimeout: Math.max(commandTimeoutMs, 500),
  retryStrategy: (attempt) => Math.min(attempt * 100, 1000)
})

/** A client whose commands fail within `commandTimeoutMs` while Redis is slow or away. */
export const connect = (
  url: string,
  options: {
    readonly commandTimeoutMs: number
    readonly lazyConnect?: boolean
    /** Commands issued in one tick sent in one write (ioredis' auto-pipelining). */
    readonly autoPipelining?: boolean
  }
) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const redis = new Redis(url, {
        ...failingFast(options.commandTimeoutMs),
        lazyConnect: options.lazyConnect ?? false,
        enableAutoPipelining: options.autoPipelining ?? false
      })
      // Reported through the failed commands; each user falls back on its own.
      redis.on("error", () => undefined)
      return redis
    }),
    (redis) => Effect.sync(() => redis.disconnect())
  )

/** The namespace of the database with this system identifier and name. */
export const namespaceOf = (identity: { readonly systemIdentifier: string; readonly database: string }) =>
  `invkit:${createHash("sha256")
    .update(`${identity.systemIdentifier}/${identity.database}`)
    .digest("hex")
    .slice(0, 16)}`

/** The open database's identity: its cluster's system identifier and its name. */
export const databaseIdentity = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ systemIdentifier: string; database: string }>`
    select system_identifier::text as system_identifier, current_database() as database
    from pg_control_system()`.pipe(Effect.map((rows) => rows[0]!))
)

export interface Namespace {
  /** The namespace; waits until it is known. */
  readonly known: Effect.Effect<string>
  /** Derives the namespace from the open database, unless INV_REDIS_PREFIX already set it. */
  readonly learn: Effect.Effect<void, never, SqlClient.SqlClient>
}

export const makeNamespace = (prefix: Option.Option<string>): Effect.Effect<Namespace> =>
  Effect.gen(function* () {
    const namespace = yield* Deferred.make<string>()
    if (Option.isSome(prefix)) yield* Deferred.succeed(namespace, prefix.value)
    return {
      known: Deferred.await(namespace),
      learn: Effect.gen(function* () {
        if (yield* Deferred.isDone(namespace)) return
        const identity = yield* databaseIdentity
        const derived = namespaceOf(identity)
        yield* Deferred.succeed(namespace, derived)
        yield* Effect.logInfo(
          `redis: this deployment's keys start with ${derived} (database ${identity.database} of the cluster ${identity.systemIdentifier})`
        )
      }).pipe(
        Effect.catchAll((error) =>
          // Without a namespace the cache stays off and the rate is counted per process: slower, never wrong.
          Effect.logError(
            `redis: cannot read the database's identity to name this deployment's keys (${error.message}); the cache stays off and rates are counted per process until INV_REDIS_PREFIX is set`
          )
        )
      )
    }
  })
