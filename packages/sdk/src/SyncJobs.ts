/**
 * Catalog syncs as background jobs on pg-boss (in PostgreSQL, or in the embedded store):
 *
 * - a queue `supplier-sync` with one active job per supplier (pg-boss's singleton policy);
 * - retries of transient failures (timeouts, 5xx, 429) with exponential backoff and jitter,
 *   honouring Retry-After, up to a bounded number of attempts; no retry of permanent failures;
 * - cron schedules per supplier: every worker computes each supplier's latest slot and enqueues
 *   it under an id derived from (supplier, slot), so however many workers run, each slot runs
 *   once. Schedules may have a seconds field.
 *
 * Retries are new delayed jobs rather than pg-boss's own retry, so a delay can follow the
 * supplier's Retry-After and each attempt is its own recorded run.
 */

import { createHash } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type PgBoss from "pg-boss"
import { InvalidInput, StoreError, SyncFailed } from "./InventoryError.js"
import { JobsDatabase } from "./internal/jobsDatabase.js"
import { cronParser } from "./internal/loadedOnUse.js"
import { Reservations, type SweepResult } from "./Reservation.js"
import { SupplierSync, type SyncRun, type Trigger } from "./SupplierSync.js"

export const QUEUE = "supplier-sync"

/**
 * The sweep of expired reservations: every worker enqueues each sweep slot under an id derived from
 * the slot, so however many workers run, each slot is swept once; a sweep closes every hold due by
 * then, and two sweeps at once still close each hold once (`Reservations.sweepExpired`).
 */
export const EXPIRY_QUEUE = "reservation-expiry"

export interface SyncJob {
  readonly supplierId: string
  readonly trigger: Trigger
  readonly attempt: number
}

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number
  /** Delay before the second attempt (jittered down to half of it); each further one doubles, up to `maxDelay`. */
  readonly baseDelay: Duration.Duration
  readonly maxDelay: Duration.Duration
}

/** `INV_SYNC_MAX_ATTEMPTS` (5), `INV_SYNC_RETRY_BASE_MS` (2000), `INV_SYNC_RETRY_MAX_MS` (300000). */
export const retryPolicyFromEnvironment: Config.Config<RetryPolicy> = Config.all({
  maxAttempts: Config.integer("INV_SYNC_MAX_ATTEMPTS").pipe(
    Config.validate({ message: "must be between 1 and 100", validation: (n) => n >= 1 && n <= 100 }),
    Config.withDefault(5)
  ),
  baseDelay: Config.map(
    Config.integer("INV_SYNC_RETRY_BASE_MS").pipe(Config.withDefault(2000)),
    Duration.millis
  ),
  maxDelay: Config.map(
    Config.integer("INV_SYNC_RETRY_MAX_MS").pipe(Config.withDefault(300_000)),
    Duration.millis
  )
})

/** Exponential with full jitter on the upper half, never sooner than the supplier asked. */
export const retryDelay = (policy: RetryPolicy, attempt: number, retryAfterMs?: number): number => {
  const exponential = Math.min(
    Duration.toMillis(policy.maxDelay),
    Duration.toMillis(policy.baseDelay) * 2 ** Math.max(0, attempt - 1)
  )
  const jittered = exponential / 2 + Math.random() * (exponential / 2)
  return Math.round(Math.max(jittered, retryAfterMs ?? 0))
}

/** A UUID that is the same for the same supplier and slot, in every worker. */
const slotJobId = (supplierId: string, slot: Date) => {
  const hex = createHash("sha256").update(`${supplierId}@${slot.toISOString()}`).digest("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

export interface WorkerEvent {
  readonly type: "started" | "succeeded" | "failed" | "retrying" | "scheduled"
  readonly supplierId: string
  readonly attempt: number
  readonly run?: SyncRun
  readonly reason?: string
  readonly delayMs?: number
}

export interface WorkerOptions {
  /** Jobs run at once by this worker. */
  readonly concurrency?: number
  readonly retry?: RetryPolicy
  /** How often the scheduler looks for due slots. */
  readonly scheduleEvery?: Duration.DurationInput
  readonly onEvent?: (event: WorkerEvent) => void
  /** How often expired reservations are swept. Default: `INV_RESERVATION_SWEEP_SECONDS`, else 10 s. */
  readonly sweepEvery?: Duration.DurationInput
  /** Told after each sweep that closed holds. */
  readonly onSweep?: (result: SweepResult) => void
}

/** `INV_RESERVATION_SWEEP_SECONDS` (10): how often the workers sweep expired reservations. */
export const sweepEveryFromEnvironment: Config.Config<Duration.Duration> = Config.integer(
  "INV_RESERVATION_SWEEP_SECONDS"
).pipe(
  Config.validate({ message: "must be between 1 and 3600", validation: (n) => n >= 1 && n <= 3600 }),
  Config.withDefault(10),
  Config.map(Duration.seconds)
)

const toStoreError = (error: unknown) =>
  new StoreError({ reason: `job queue: ${error instanceof Error ? error.message : String(error)}` })

export class SyncJobs extends Effect.Service<SyncJobs>()("@invkit/sdk/SyncJobs", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const database = yield* JobsDatabase
    const supplierSync = yield* SupplierSync
    const reservations = yield* Reservations
    const runtime = yield* Effect.runtime<never>()

    // Loaded when jobs are used: most commands never queue one.
    const { default: PgBossQueue } = yield* Effect.promise(() => import("pg-boss"))
    const boss = new PgBossQueue({
      ...(database._tag === "Postgres"
        ? { connectionString: Redacted.value(database.url), max: 4 }
        : {
            db: {
              executeSql: (text: string, values: Array<unknown>) =>
                Runtime.runPromise(runtime)(database.executeSql(text, values))
            }
          }),
      schema: "pgboss",
      // Schedules are ours (seconds-precise, per supplier); pg-boss's cron would fire per queue name.
      schedule: false,
      supervise: true
    })
    boss.on("error", (error) => Runtime.runFork(runtime)(Effect.logWarning("job queue error", error)))

    yield* Effect.acquireRelease(Effect.tryPromise({ try: () => boss.start(), catch: toStoreError }), () =>
      Effect.promise(() => boss.stop({ graceful: true, wait: true, timeout: 10_000 })).pipe(
        Effect.timeout("15 seconds"),
        Effect.ignore
      )
    )
    yield* Effect.tryPromise({
      try: async () => {
        if ((await boss.getQueue(QUEUE)) === null) {
          await boss.createQueue(QUEUE, {
            name: QUEUE,
            policy: "singleton",
            retryLimit: 2,
            expireInSeconds: 900
          })
        }
        if ((await boss.getQueue(EXPIRY_QUEUE)) === null) {
          await boss.createQueue(EXPIRY_QUEUE, {
            name: EXPIRY_QUEUE,
            policy: "singleton",
            retryLimit: 1,
            expireInSeconds: 300
          })
        }
      },
      catch: toStoreError
    }).pipe(
      // Two workers starting at once both try to create the queue.
      Effect.retry({ times: 3, schedule: Schedule.spaced("100 millis") })
    )

    const send = (job: SyncJob, options: PgBoss.SendOptions = {}) =>
      Effect.tryPromise({
        try: () => boss.send(QUEUE, job, { singletonKey: job.supplierId, ...options }),
        catch: toStoreError
      })

    /** Queues a sync to run in a worker; answers the job id. */
    const enqueue = (supplierId: string, trigger: Trigger = "manual") =>
      Effect.map(send({ supplierId, trigger, attempt: 1 }), (id) => id ?? "")

    /** Enqueues each supplier's latest due slot (within the last minute) once across all workers. */
    const enqueueDueSlots = (now: Date, onEvent: (event: WorkerEvent) => void) =>
      Effect.gen(function* () {
        const scheduled = yield* sql<{ id: string; schedule: string; updatedAt: Date }>`
          select id, schedule, updated_at from suppliers where active and schedule is not null`.pipe(
          Effect.mapError(toStoreError)
        )
        for (const supplier of scheduled) {
          const slot = (() => {
            try {
              return cronParser()
                .parseExpression(supplier.schedule, { currentDate: new Date(now.getTime() + 1) })
                .prev()
                .toDate()
            } catch {
              return undefined
            }
          })()
          // Not a slot from before the schedule was set, nor one long past (no backfill after downtime).
          if (slot === undefined || slot < supplier.updatedAt || now.getTime() - slot.getTime() > 60_000)
            continue
          const id = yield* send(
            { supplierId: supplier.id, trigger: "scheduled", attempt: 1 },
            { id: slotJobId(supplier.id, slot) }
          )
          if (id) onEvent({ type: "scheduled", supplierId: supplier.id, attempt: 1 })
        }
      })

    /** The last sweep slot this process enqueued: a slot is sent once, not on every tick. */
    let lastSweepSlot = 0

    /** Enqueues the current sweep slot once across all workers. */
    const enqueueSweep = (now: Date, every: Duration.Duration) =>
      Effect.gen(function* () {
        const millis = Math.max(1000, Duration.toMillis(every))
        const slot = new Date(Math.floor(now.getTime() / millis) * millis)
        if (slot.getTime() === lastSweepSlot) return
        yield* Effect.tryPromise({
          try: () =>
            boss.send(EXPIRY_QUEUE, {}, { id: slotJobId(EXPIRY_QUEUE, slot), retentionSeconds: 3600 }),
          catch: toStoreError
        })
        lastSweepSlot = slot.getTime()
      })

    /** One job: a sync run; a transient failure becomes a delayed retry job until the limit. */
    const handle = (job: SyncJob, policy: RetryPolicy, onEvent: (event: WorkerEvent) => void) =>
      Effect.gen(function* () {
        onEvent({ type: "started", supplierId: job.supplierId, attempt: job.attempt })
        const run = yield* supplierSync.sync(job.supplierId, { trigger: job.trigger, attempt: job.attempt })
        onEvent({ type: "succeeded", supplierId: job.supplierId, attempt: job.attempt, run })
      }).pipe(
        Effect.catchTag("SyncFailed", (failure) => {
          if (failure.transient && job.attempt < policy.maxAttempts) {
            const delayMs = retryDelay(policy, job.attempt, failure.retryAfterMs)
            onEvent({
              type: "retrying",
              supplierId: job.supplierId,
              attempt: job.attempt,
              reason: failure.reason,
              delayMs
            })
            return Effect.asVoid(
              send({ ...job, attempt: job.attempt + 1 }, { startAfter: new Date(Date.now() + delayMs) })
            )
          }
          onEvent({
            type: "failed",
            supplierId: job.supplierId,
            attempt: job.attempt,
            reason: failure.reason
          })
          return Effect.void
        }),
        // A supplier removed or renamed since the job was queued: nothing to do.
        Effect.catchTags({
          SupplierNotFound: (error) =>
            Effect.sync(() =>
              onEvent({
                type: "failed",
                supplierId: job.supplierId,
                attempt: job.attempt,
                reason: error.message
              })
            ),
          InvalidInput: (error) =>
            Effect.sync(() =>
              onEvent({
                type: "failed",
                supplierId: job.supplierId,
                attempt: job.attempt,
                reason: error.message
              })
            )
        })
      )

    /**
     * Works the queue and fires schedules until interrupted; then stops taking jobs and lets
     * the running ones finish.
     */
    const work = (options: WorkerOptions = {}) =>
      Effect.gen(function* () {
        const concurrency = options.concurrency ?? 1
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 100) {
          return yield* new InvalidInput({
            field: "concurrency",
            rule: "must be a whole number from 1 to 100"
          })
        }
        const policy = options.retry ?? (yield* Effect.orDie(retryPolicyFromEnvironment))
        const onEvent = options.onEvent ?? (() => {})
        const workerId = yield* Effect.tryPromise({
          try: () =>
            boss.work<SyncJob>(QUEUE, { batchSize: concurrency, pollingIntervalSeconds: 0.5 }, (jobs) =>
              Runtime.runPromise(runtime)(
                Effect.forEach(jobs, (job) => handle(job.data, policy, onEvent), {
                  concurrency: "unbounded",
                  discard: true
                })
              )
            ),
          catch: toStoreError
        })
        yield* Effect.addFinalizer(() =>
          Effect.promise(() => boss.offWork({ id: workerId, wait: true } as any)).pipe(
            Effect.timeout("30 seconds"),
            Effect.ignore
          )
        )
        const sweepEvery = options.sweepEvery
          ? Duration.decode(options.sweepEvery)
          : yield* Effect.orDie(sweepEveryFromEnvironment)
        const onSweep = options.onSweep ?? (() => {})
        const sweeperId = yield* Effect.tryPromise({
          try: () =>
            // Polled less often than syncs: a sweep is due every few seconds at most, and on the
            // embedded store every poll takes the one connection.
            boss.work(EXPIRY_QUEUE, { pollingIntervalSeconds: 2 }, () =>
              Runtime.runPromise(runtime)(
                reservations
                  .sweepExpired()
                  .pipe(
                    Effect.tap((result) =>
                      result.expired > 0 ? Effect.sync(() => onSweep(result)) : Effect.void
                    )
                  )
              )
            ),
          catch: toStoreError
        })
        yield* Effect.addFinalizer(() =>
          Effect.promise(() => boss.offWork({ id: sweeperId, wait: true } as any)).pipe(
            Effect.timeout("30 seconds"),
            Effect.ignore
          )
        )
        yield* Effect.suspend(() => enqueueSweep(new Date(), sweepEvery)).pipe(
          Effect.catchAll((error) => Effect.logWarning("reservation sweep", error)),
          Effect.repeat(Schedule.spaced(options.scheduleEvery ?? "1 second")),
          Effect.forkScoped
        )
        yield* Effect.suspend(() => enqueueDueSlots(new Date(), onEvent)).pipe(
          Effect.catchAll((error) => Effect.logWarning("scheduler", error)),
          Effect.repeat(Schedule.spaced(options.scheduleEvery ?? "1 second"))
        )
        return yield* Effect.never
      }).pipe(Effect.scoped)

    return { enqueue, work, enqueueDueSlots: (now: Date) => enqueueDueSlots(now, () => {}) } as const
  })
}) {}

export { SyncFailed }
