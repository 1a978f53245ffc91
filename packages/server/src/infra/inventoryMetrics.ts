/**
 * The inventory's own metrics, served on `/metrics` with the request metrics (see metrics.ts).
 * The names are a contract: deploy/prometheus/alerts.yml and the Grafana dashboard query them,
 * and docs/operations.md says what each means. No metric carries a `service` label: Prometheus
 * adds it per scrape target, and a second one would collide.
 *
 * Gauges that need a query (outbox backlog, queued jobs, dead-letter queues) are sampled by a
 * periodic fiber in the process that owns the thing, never per scrape, so a scrape costs nothing.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SyncJobs } from "@invkit/sdk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"
import * as Schedule from "effect/Schedule"

// Stock changes are counted where they are written (the SDK's Stock), so every path counts:
// HTTP, inbound events, receiving a restock order. The counter lives there.

export const outboxPending = Metric.gauge("inv_outbox_pending", {
  description: "Outbox rows not yet published to the broker"
})

export const outboxPublishLag = Metric.gauge("inv_outbox_publish_lag_seconds", {
  description: "Age in seconds of the oldest unpublished outbox row; 0 when none"
})

const eventsConsumed = Metric.counter("inv_events_consumed_total", {
  description: "Events a consumer handled and acknowledged, by consumer group",
  incremental: true
})

const eventsRedelivered = Metric.counter("inv_events_redelivered_total", {
  description:
    "Deliveries of an event that were not its first: a retry after a failure, or a broker redelivery after a lost ack",
  incremental: true
})

const eventsDeadLettered = Metric.counter("inv_events_dead_lettered_total", {
  description:
    "Events moved to the dead-letter queue (permanent failure or attempts used up), by consumer group",
  incremental: true
})

export const deadLetterQueueMessages = Metric.gauge("inv_dead_letter_queue_messages", {
  description: "Messages waiting in a consumer group's dead-letter queue invkit.<consumer>.dead"
})

const cacheRequests = MetricKey.counter("inv_cache_requests_total", {
  description:
    "Stock reads through the cache: hit, miss (answered from the database), error (cache unreachable)",
  incremental: true
})

const syncRuns = Metric.counter("inv_sync_runs_total", {
  description:
    "Supplier sync runs (each attempt is a run) by outcome: succeeded, failed (given up), retried (failed, retry queued)",
  incremental: true
})

const syncDuration = Metric.histogram(
  "inv_sync_duration_seconds",
  MetricBoundaries.fromIterable([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]),
  "Duration of supplier sync runs in seconds"
)

export const jobsQueued = Metric.gauge("inv_jobs_queued", {
  description: "Sync jobs waiting in the job queue (pg-boss), not yet started"
})

const jobsFailed = Metric.counter("inv_jobs_failed_total", {
  description: "Sync jobs given up: a permanent failure, or the last attempt failed",
  incremental: true
})

export const ready = Metric.gauge("inv_ready", {
  description: "1 when /ready would answer 200 (database, broker and cache answer), else 0"
})

/**
 * A counter by consumer group, its tag in the key, made once per group: `Metric.tagged` builds and
 * hashes a new key on every update, which was a few per cent of a consumer's CPU per event.
 */
const byConsumer = (counter: Metric.Metric.Counter<number>) => {
  const made = new Map<string, Metric.Metric.Counter<number>>()
  return (consumer: string) => {
    let tagged = made.get(consumer)
    if (tagged === undefined) {
      tagged = Metric.tagged(counter, "consumer", consumer)
      made.set(consumer, tagged)
    }
    return tagged
  }
}
const eventsConsumedOf = byConsumer(eventsConsumed)
const eventsRedeliveredOf = byConsumer(eventsRedelivered)
const eventsDeadLetteredOf = byConsumer(eventsDeadLettered)

export const eventConsumed = (consumer: string) => Metric.increment(eventsConsumedOf(consumer))

/** Events a consumer handled and acknowledged together. */
export const eventsConsumedBy = (consumer: string, events: number) =>
  Metric.incrementBy(eventsConsumedOf(consumer), events)

export const eventRedelivered = (consumer: string) => Metric.increment(eventsRedeliveredOf(consumer))

export const eventDeadLettered = (consumer: string) => Metric.increment(eventsDeadLetteredOf(consumer))

export type CacheResult = "hit" | "miss" | "error"

/**
 * One counter per result, its tag in the key: on every cached read, `Metric.tagged` would build and
 * hash a new key.
 */
const cacheRequestsBy = Object.fromEntries(
  (["hit", "miss", "error"] as const).map((result) => [
    result,
    Metric.fromMetricKey(MetricKey.taggedWithLabels(cacheRequests, [MetricLabel.make("result", result)]))
  ])
) as Record<CacheResult, Metric.Metric.Counter<number>>

export const cacheRequest = (result: CacheResult) => Metric.increment(cacheRequestsBy[result])

/** The same count, taken where a cache hit is handled in plain code rather than in an effect. */
export const unsafeCacheRequest = (result: CacheResult) => cacheRequestsBy[result].unsafeUpdate(1, [])

export const deadLetters = (consumer: string, messages: number) =>
  Metric.set(Metric.tagged(deadLetterQueueMessages, "consumer", consumer), messages)

/** Records a sync worker's event: runs by outcome with their duration, and jobs given up. */
export const syncEventRecorder = () => {
  // A run's start, by supplier and attempt: the worker reports start and end separately.
  const startedAt = new Map<string, number>()
  return (event: SyncJobs.WorkerEvent): Effect.Effect<void> => {
    const key = `${event.supplierId}\u0000${event.attempt}`
    if (event.type === "started") return Effect.sync(() => startedAt.set(key, performance.now()))
    const outcome =
      event.type === "succeeded"
        ? "succeeded"
        : event.type === "failed"
          ? "failed"
          : event.type === "retrying"
            ? "retried"
            : undefined
    if (outcome === undefined) return Effect.void
    return Effect.suspend(() => {
      const started = startedAt.get(key)
      startedAt.delete(key)
      return Effect.all(
        [
          Metric.increment(Metric.tagged(syncRuns, "status", outcome)),
          started === undefined
            ? Effect.void
            : Metric.update(syncDuration, (performance.now() - started) / 1000),
          outcome === "failed" ? Metric.increment(jobsFailed) : Effect.void
        ],
        { discard: true }
      )
    })
  }
}

/** How often the sampled gauges are refreshed. */
export const SAMPLE_EVERY = Duration.seconds(5)

/** Runs `sample` now and every SAMPLE_EVERY for the process's life; a failed sample is skipped. */
export const sampleForever = <E, R>(what: string, sample: Effect.Effect<void, E, R>) =>
  sample.pipe(
    Effect.catchAllCause((cause) => Effect.logDebug(`metrics: cannot sample ${what}`, cause)),
    Effect.repeat(Schedule.spaced(SAMPLE_EVERY)),
    Effect.asVoid
  )

/** The outbox backlog: one index-only query on the partial index of unsent rows. */
export const sampleOutbox: Effect.Effect<void, unknown, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ pending: number; lagSeconds: number | null }>`
    select count(*)::int as pending,
           extract(epoch from now() - min(created_at))::float8 as lag_seconds
    from outbox where sent_at is null`
  yield* Metric.set(outboxPending, row?.pending ?? 0)
  yield* Metric.set(outboxPublishLag, Math.max(0, row?.lagSeconds ?? 0))
})

/** Sync jobs waiting (created or waiting for a retry) in pg-boss's table for the sync queue. */
export const sampleJobsQueued: Effect.Effect<void, unknown, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ queued: number }>`
    select count(*)::int as queued from pgboss.job
    where name = ${SyncJobs.QUEUE} and state in ('created', 'retry')`
  yield* Metric.set(jobsQueued, row?.queued ?? 0)
})
