/**
 * The per-token request rate (INV_RATE_LIMIT). With Redis configured it is counted there, under the
 * deployment's namespace, so every instance of every service shares one budget per subject; when
 * Redis does not answer, or without Redis, each process counts in memory (the insurance limiter):
 * a limit that degrades to per process rather than failing requests.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible"
import { connect } from "./redis.js"

/** How long a Redis count may take before the process counts in memory instead. */
const REDIS_TIMEOUT_MS = 200

export const rateLimiter = (options: {
  readonly ratePerSecond: number
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  /** The deployment's namespace (infra/redis.ts); waits until it is known. */
  readonly namespace: Effect.Effect<string>
}) =>
  Effect.gen(function* () {
    if (options.ratePerSecond === 0) return Option.none<RateLimiterAbstract>()
    const inMemory = new RateLimiterMemory({ points: options.ratePerSecond, duration: 1 })
    if (Option.isNone(options.redisUrl)) return Option.some<RateLimiterAbstract>(inMemory)
    // Not connected until the namespace is known: until then Redis is "not ready" and the
    // process counts in memory, never under a key another deployment counts too.
    const redis = yield* connect(Redacted.value(options.redisUrl.value), {
      commandTimeoutMs: REDIS_TIMEOUT_MS,
      lazyConnect: true
    })
    const limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix: "",
      points: options.ratePerSecond,
      duration: 1,
      rejectIfRedisNotReady: true,
      insuranceLimiter: inMemory
    })
    yield* Effect.forkScoped(
      Effect.map(options.namespace, (namespace) => {
        limiter.keyPrefix = `${namespace}:rate`
        redis.connect().catch(() => undefined) // retried by the client; counted in memory meanwhile
      })
    )
    return Option.some<RateLimiterAbstract>(limiter)
  })
