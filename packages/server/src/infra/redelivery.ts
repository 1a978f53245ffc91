/**
 * What happens to an event whose handling failed, decided in one place for both buses (RabbitMQ
 * and in-process), as a pure function of the failure, the attempt and the clock.
 *
 * A permanent failure (`PermanentFailure`: an invalid event, an unknown type, a sale of stock that
 * is not there) is dead-lettered at once: retrying would fail the same way. Anything else (the
 * database away, a connection lost) is retried with growing delays, from `firstDelay` doubling up
 * to `maxDelay`, until `retryFor` has passed since the first failure; then it is dead-lettered.
 * An outage shorter than `retryFor` therefore delays events but drops none.
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/** A failure that no retry can fix: the event goes to the dead-letter queue at once. */
export class PermanentFailure extends Data.TaggedError("PermanentFailure")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export interface RetryPolicy {
  /** How long a failing event is retried, from its first failure, before it is dead-lettered. */
  readonly retryFor: Duration.DurationInput
  /** The wait before the second attempt; every later wait doubles, up to `maxDelay`. */
  readonly firstDelay: Duration.DurationInput
  readonly maxDelay: Duration.DurationInput
}

/** Long enough to ride out a database failover or a restart; INV_EVENT_RETRY_TIMEOUT sets `retryFor`. */
export const defaultRetryPolicy: RetryPolicy = {
  retryFor: "10 minutes",
  firstDelay: "1 second",
  maxDelay: "1 minute"
}

export type Decision =
  | { readonly _tag: "Retry"; readonly delayMillis: number; readonly reason: string }
  | { readonly _tag: "DeadLetter"; readonly reason: string }

/** Reasons travel in headers and logs and are read by people: one short line. */
export const MAX_REASON_LENGTH = 300

export const boundedReason = (text: string): string => {
  const line = text.replace(/\s+/g, " ").trim()
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH - 1)}…` : line
}

const isPermanent = (cause: Cause.Cause<unknown>): boolean =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => false,
    onSome: (error) =>
      typeof error === "object" && error !== null && "_tag" in error && error._tag === "PermanentFailure"
  })

/** One line saying why a consumer failed. */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  if (Cause.isInterruptedOnly(cause)) return "interrupted"
  const error = Cause.squash(cause)
  if (error instanceof PermanentFailure) return boundedReason(error.reason)
  if (error instanceof Error) {
    const tag = "_tag" in error && typeof error._tag === "string" ? error._tag : error.name
    return boundedReason(error.message ? `${tag}: ${error.message}` : tag)
  }
  if (typeof error === "object" && error !== null) {
    const tag = "_tag" in error ? String(error._tag) : "error"
    const reason = "reason" in error ? String(error.reason) : JSON.stringify(error)
    return boundedReason(`${tag}: ${reason}`)
  }
  return boundedReason(String(error))
}

/**
 * The next step for an event whose `attempt`-th handling (1 for the first) failed with `cause`;
 * `firstFailedAt` and `now` are epoch milliseconds.
 */
export const afterFailure = (
  policy: RetryPolicy,
  failure: {
    readonly cause: Cause.Cause<unknown>
    readonly attempt: number
    readonly firstFailedAt: number
    readonly now: number
  }
): Decision => {
  const reason = describeFailure(failure.cause)
  if (isPermanent(failure.cause)) return { _tag: "DeadLetter", reason }
  const remaining = Duration.toMillis(policy.retryFor) - (failure.now - failure.firstFailedAt)
  if (remaining <= 0) {
    return {
      _tag: "DeadLetter",
      reason: boundedReason(`still failing after ${failure.attempt} attempts: ${reason}`)
    }
  }
  const growing = Duration.toMillis(policy.firstDelay) * 2 ** Math.min(failure.attempt - 1, 30)
  // The last wait is cut to the time left, so the last attempt comes when `retryFor` is up.
  return {
    _tag: "Retry",
    delayMillis: Math.max(1, Math.min(growing, Duration.toMillis(policy.maxDelay), remaining)),
    reason
  }
}
