/**
 * The retry / dead-letter decision both buses share, and the in-process bus following it: a
 * permanent failure is dead-lettered at once, anything else is retried with growing delays until
 * the retry time is up, and a failing event does not hold up the ones behind it.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Event } from "@invkit/sdk"
import { StoreError } from "@invkit/sdk"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import { describeConfigError } from "../src/config.js"
import { EventBus } from "../src/infra/events.js"
import * as InProcessEvents from "../src/infra/inProcessEvents.js"
import {
  afterFailure,
  defaultRetryPolicy,
  describeFailure,
  MAX_REASON_LENGTH,
  PermanentFailure,
  type RetryPolicy
} from "../src/infra/redelivery.js"
import { readConfig } from "./utils.js"

const policy: RetryPolicy = { retryFor: "10 minutes", firstDelay: "1 second", maxDelay: "1 minute" }
const outage = Cause.fail(new StoreError({ reason: "Connection terminated unexpectedly" }))
const start = Date.UTC(2026, 11, 5, 12)

describe("afterFailure", () => {
  it("dead-letters a permanent failure at once, with its reason", () => {
    const decision = afterFailure(policy, {
      cause: Cause.fail(new PermanentFailure({ reason: "product.sold e-1 rejected: InsufficientStock" })),
      attempt: 1,
      firstFailedAt: start,
      now: start
    })
    expect(decision).toEqual({ _tag: "DeadLetter", reason: "product.sold e-1 rejected: InsufficientStock" })
  })

  it("retries a store failure with delays doubling from the first up to the longest", () => {
    const delays: Array<number> = []
    let now = start
    for (let attempt = 1; attempt <= 9; attempt++) {
      const decision = afterFailure(policy, { cause: outage, attempt, firstFailedAt: start, now })
      expect(decision._tag).toBe("Retry")
      if (decision._tag === "Retry") {
        expect(decision.reason).toBe(
          "StoreError: The inventory store failed: Connection terminated unexpectedly"
        )
        delays.push(decision.delayMillis)
        now += decision.delayMillis
      }
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000])
  })

  it("cuts the last wait to the time left, and dead-letters once the retry time is up", () => {
    const tenMinutes = 600_000
    const last = afterFailure(policy, {
      cause: outage,
      attempt: 14,
      firstFailedAt: start,
      now: start + tenMinutes - 5_000
    })
    expect(last).toMatchObject({ _tag: "Retry", delayMillis: 5_000 })
    const over = afterFailure(policy, {
      cause: outage,
      attempt: 15,
      firstFailedAt: start,
      now: start + tenMinutes
    })
    expect(over).toEqual({
      _tag: "DeadLetter",
      reason:
        "still failing after 15 attempts: StoreError: The inventory store failed: Connection terminated unexpectedly"
    })
  })

  it("retries by default for minutes, not seconds", () => {
    const decision = afterFailure(defaultRetryPolicy, {
      cause: outage,
      attempt: 6,
      firstFailedAt: start,
      now: start + 60_000
    })
    expect(decision._tag).toBe("Retry")
  })

  it("keeps a reason to one short line", () => {
    const reason = describeFailure(Cause.die(new Error(`line one\nline two ${"x".repeat(1_000_000)}`)))
    expect(reason.length).toBeLessThanOrEqual(MAX_REASON_LENGTH)
    expect(reason).toMatch(/^Error: line one line two x+…$/)
  })
})

const event = (id: string): Event.CloudEvent => ({
  specversion: "1.0",
  id,
  source: "test",
  type: "stock.updated",
  data: {}
})

describe("the in-process bus", () => {
  it.scopedLive(
    "retries a failing event after growing delays while the events behind it go on, and gives up a permanent failure at once",
    () =>
      Effect.gen(function* () {
        const bus = yield* EventBus
        const calls: Record<string, Array<number>> = {}
        yield* bus.consume({
          name: "test",
          types: ["stock.updated"],
          handle: (event) =>
            Effect.suspend((): Effect.Effect<void, StoreError | PermanentFailure> => {
              const times = calls[event.id] ?? []
              calls[event.id] = times
              times.push(Date.now())
              if (event.id === "flaky" && times.length < 4)
                return Effect.fail(new StoreError({ reason: "away" }))
              if (event.id === "invalid") return Effect.fail(new PermanentFailure({ reason: "invalid data" }))
              return Effect.void
            })
        })
        yield* bus.publish([event("flaky"), event("invalid"), event("after")])
        while ((calls.flaky?.length ?? 0) < 4) yield* Effect.sleep("20 millis")
        // The event behind the failing one was handled before its first retry.
        expect(calls.after![0]!).toBeLessThan(calls.flaky![1]!)
        expect(calls.invalid).toHaveLength(1)
        const waits = calls.flaky!.slice(1).map((at, i) => at - calls.flaky![i]!)
        expect(waits[0]).toBeGreaterThanOrEqual(45)
        expect(waits[1]).toBeGreaterThanOrEqual(95)
        expect(waits[2]).toBeGreaterThanOrEqual(195)
        yield* Effect.sleep("300 millis")
        expect(calls.flaky).toHaveLength(4)
      }).pipe(
        Effect.provide(
          InProcessEvents.layer({ retryFor: "10 seconds", firstDelay: "50 millis", maxDelay: "1 second" })
        )
      )
  )

  it.scopedLive("gives an event up once the retry time is up", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus
      const calls: Array<number> = []
      yield* bus.consume({
        name: "test",
        types: ["stock.updated"],
        handle: () =>
          Effect.suspend(() => {
            calls.push(Date.now())
            return Effect.fail(new StoreError({ reason: "away" }))
          })
      })
      yield* bus.publish([event("never")])
      yield* Effect.sleep("700 millis")
      const attempts = calls.length
      expect(calls.at(-1)! - calls[0]!).toBeGreaterThanOrEqual(290)
      yield* Effect.sleep("300 millis")
      expect(calls).toHaveLength(attempts)
    }).pipe(
      Effect.provide(
        InProcessEvents.layer({ retryFor: "300 millis", firstDelay: "50 millis", maxDelay: "100 millis" })
      )
    )
  )
})

describe("INV_EVENT_RETRY_TIMEOUT", () => {
  const read = (environment: Record<string, string>) => readConfig("stock-updater", environment)

  it("is ten minutes unless set, in seconds when set, and refused by name when it is no number of seconds", () => {
    const unset = read({})
    const set = read({ INV_EVENT_RETRY_TIMEOUT: "90" })
    const bad = read({ INV_EVENT_RETRY_TIMEOUT: "10m" })
    expect(unset._tag === "Right" && unset.right.eventRetryTimeoutSeconds).toBe(600)
    expect(set._tag === "Right" && set.right.eventRetryTimeoutSeconds).toBe(90)
    expect(bad._tag === "Left" && describeConfigError(bad.left)).toEqual([
      'INV_EVENT_RETRY_TIMEOUT: must be a number of seconds from 1 to 86400, written in digits, got "10m"'
    ])
  })
})
