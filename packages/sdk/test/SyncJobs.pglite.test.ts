import * as Duration from "effect/Duration"
import { describe, expect, it } from "vitest"
import { type RetryPolicy, retryDelay } from "../src/SyncJobs.js"
import { syncJobsSuite } from "./syncJobsSuite.js"
import { embeddedStore } from "./utils.js"

// Sync jobs on PGlite: pg-boss shares the embedded store's one connection.
syncJobsSuite(embeddedStore)

describe("retryDelay", () => {
  const policy: RetryPolicy = {
    maxAttempts: 10,
    baseDelay: Duration.millis(1_000),
    maxDelay: Duration.millis(5_000)
  }
  const samples = (attempt: number, retryAfterMs?: number) =>
    Array.from({ length: 500 }, () => retryDelay(policy, attempt, retryAfterMs))

  it("doubles per attempt, jittered within the upper half, and stops growing at the maximum", () => {
    for (const [attempt, nominal] of [
      [1, 1_000],
      [2, 2_000],
      [3, 4_000],
      [4, 5_000],
      [9, 5_000]
    ] as const) {
      const delays = samples(attempt)
      expect(Math.min(...delays), `attempt ${attempt}`).toBeGreaterThanOrEqual(nominal / 2)
      expect(Math.max(...delays), `attempt ${attempt}`).toBeLessThanOrEqual(nominal)
      // Jittered: not one fixed value, so many workers do not retry in step.
      expect(new Set(delays).size, `attempt ${attempt}`).toBeGreaterThan(10)
    }
  })

  it("is never sooner than the supplier's Retry-After", () => {
    expect(Math.min(...samples(1, 30_000))).toBe(30_000)
    expect(Math.min(...samples(3, 2_500))).toBeGreaterThanOrEqual(2_500)
  })
})
