/**
 * The per-token request rate (INV_RATE_LIMIT). With Redis configured it is counted there, under the
 * deployment's namespace, so every instance of every service shares one budget per subject; when
 * Redis does not answer, or without Redis, each process counts in memory (the insurance limiter):
 * a limit that degrades to per process rather than failing requests.
 *
 * Requests that arrive while a count is on its way to Redis are counted together next: one
 * increment by their number per subject, all subjects in one pipelined write, instead of a Redis
 * round trip per request (8% of a cached read's profile, docs/benchmarks-log.md). Each request still
 * gets its own place in the count, so the same requests are let in as one-by-one counting would.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes
} from "rate-limiter-flexible"
import { connect } from "./redis.js"

/** How long a Redis count may take before the process counts in memory instead. */
const REDIS_TIMEOUT_MS = 200

/**
 * Counts one request of `key`: resolves if it is within the rate, rejects with a RateLimiterRes
 * (how long to wait) if not, and with anything else if the count failed.
 */
export interface RequestCounter {
  readonly consume: (key: string) => Promise<unknown>
}

interface Waiter {
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
}

/**
 * `limiter` asked once per key for the requests that queued while the previous count was in
 * flight (as group commit does with transactions): a lone request is counted at once (at the end
 * of this turn of the event loop), a busy process's requests go together. With c counted before
 * and n in the batch, the i-th of the batch is the (c+i)-th: let in while that is within the
 * limiter's points, refused past them, as one-by-one counting would.
 */
export const countedTogether = (limiter: RateLimiterAbstract): RequestCounter => {
  let pending = new Map<string, Array<Waiter>>()
  /** Whether a count is scheduled or in flight; requests meanwhile wait for the next. */
  let busy = false
  const countKey = (key: string, waiters: ReadonlyArray<Waiter>) =>
    Promise.resolve()
      .then(() => limiter.consume(key, waiters.length))
      .then(
        (counted) => {
          for (const waiter of waiters) waiter.resolve(counted)
        },
        (refused: unknown) => {
          if (!(refused instanceof RateLimiterRes)) {
            for (const waiter of waiters) waiter.reject(refused)
            return
          }
          const before = refused.consumedPoints - waiters.length
          waiters.forEach((waiter, i) => {
            if (before + i + 1 <= limiter.points) waiter.resolve(refused)
            else waiter.reject(refused)
          })
        }
      )
  const flush = (): void => {
    if (pending.size === 0) {
      busy = false
      return
    }
    const batch = pending
    pending = new Map()
    Promise.all(Array.from(batch, ([key, waiters]) => countKey(key, waiters))).then(flush)
  }
  return {
    consume: (key) =>
      new Promise((resolve, reject) => {
        let waiters = pending.get(key)
        if (waiters === undefined) {
          waiters = []
          pending.set(key, waiters)
        }
        waiters.push({ resolve, reject })
        if (!busy) {
          busy = true
          setImmediate(flush)
        }
      })
  }
}

export const rateLimiter = (options: {
  readonly ratePerSecond: number
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  /** The deployment's namespace (infra/redis.ts); waits until it is known. */
  readonly namespace: Effect.Effect<string>
}) =>
  Effect.gen(function* () {
    if (options.ratePerSecond === 0) return Option.none<RequestCounter>()
    const inMemory = new RateLimiterMemory({ points: options.ratePerSecond, duration: 1 })
    if (Option.isNone(options.redisUrl)) return Option.some<RequestCounter>(inMemory)
    // Not connected until the namespace is known: until then Redis is "not ready" and the
    // process counts in memory, never under a key another deployment counts too.
    const redis = yield* connect(Redacted.value(options.redisUrl.value), {
      commandTimeoutMs: REDIS_TIMEOUT_MS,
      lazyConnect: true,
      // The increments of one batch's subjects leave in one write.
      autoPipelining: true
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
    return Option.some(countedTogether(limiter))
  })
