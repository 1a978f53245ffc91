/**
 * The per-token request rate (INV_RATE_LIMIT). With Redis configured it is counted there, so every
 * instance of every service shares one budget per subject; when Redis does not answer, or without
 * Redis, each process counts in memory (the insurance limiter): a limit that degrades to per
 * process rather than failing requests.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Redis } from "ioredis"
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible"

/** How long a Redis count may take before the process counts in memory instead. */
const REDIS_TIMEOUT_MS = 200

export const rateLimiter = (options: {
  readonly ratePerSecond: number
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
}) =>
  Effect.gen(function* () {
    if (options.ratePerSecond === 0) return Option.none<RateLimiterAbstract>()
    const inMemory = new RateLimiterMemory({ points: options.ratePerSecond, duration: 1 })
    if (Option.isNone(options.redisUrl)) return Option.some<RateLimiterAbstract>(inMemory)
    const url = Redacted.value(options.redisUrl.value)
    const redis = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new Redis(url, {
            // As the cache's client: no queueing while Redis is away, and a short timeout.
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            commandTimeout: REDIS_TIMEOUT_MS,
            retryStrategy: (attempt) => Math.min(attempt * 100, 1000)
          })
      ),
      (redis) => Effect.sync(() => redis.disconnect())
    )
    // ioredis reports connection errors as events; the limiter falls back meanwhile.
    redis.on("error", () => {})
    return Option.some<RateLimiterAbstract>(
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: "invkit:rate",
        points: options.ratePerSecond,
        duration: 1,
        rejectIfRedisNotReady: true,
        insuranceLimiter: inMemory
      })
    )
  })
