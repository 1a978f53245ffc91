/**
 * The outbox relay: publishes the `outbox` rows that stock changes (and restock, suppliers)
 * committed, in id order, with broker confirms, and marks them sent.
 *
 * Ordering and duplicates: one relay publishes at a time. Each round is one transaction that
 * first takes `pg_try_advisory_xact_lock(RELAY_LOCK)`; a relay that does not get it waits for
 * the next round. The holder claims the oldest unsent rows (`for update`) and marks them `sent_at`
 * in one statement, publishes them, and commits, which also releases the lock and makes the mark
 * visible; a failed publish rolls the mark back. So rows go out in id order, and rows
 * of one (SKU, location) are written in the order of their versions (a writer holds the level's
 * row lock until it commits), so consumers see them in that order. Any number of relays may run
 * (one per service instance): the others are hot standbys.
 *
 * Nothing is lost: a row stays unsent until the broker confirmed it and its mark committed. If the
 * broker is down the round fails, rolls back, and is retried with capped exponential backoff. A
 * crash between the confirm and the commit publishes the rows again: consumers de-duplicate by
 * event id (the inbox), so each change reaches their effects once.
 *
 * Waking, without a database round trip on the hot path: the writers of the relay's own process
 * (stock-updater, `inv-server all`: HTTP stock writes through group commit, inbound consumers,
 * everything else they write) wake it in-process once a transaction that wrote events has
 * committed: the SDK's store announces such commits (`Store.EventsCommitted`), and the service
 * process points that at this relay's `LocalCommits`. Writers in other processes (supplier-sync's
 * restock orders and catalog syncs, the CLI, an SDK app on the same PostgreSQL) send one standalone
 * `NOTIFY invkit_outbox` after their commit, one at a time per process and at most one per 50 ms
 * (the SDK's default), and on PostgreSQL the relay `LISTEN`s on a connection of its own. So events of either
 * go out as soon as they commit. Nothing notifies inside a write's transaction: PostgreSQL
 * serialises the commits of notifying transactions (migration 0011 dropped the trigger that did).
 * The relay still looks every second (`listeningFallback`) without a wake-up, which bounds the
 * delay when a notification is lost; a look that finds rows nothing announced means the listening
 * connection was lost, and it is opened again. On the embedded store (one PGlite session behind a
 * socket) it does not listen: it looks every `idle` (100 ms), and at once on its own commits.
 *
 * A woken relay that finds another relay holding the lock looks again shortly until it gets it:
 * the holder may have claimed its rows before the commit that woke this one.
 *
 * Plain SQL that PostgreSQL and PGlite both run.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event, Store } from "@invkit/sdk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberHandle from "effect/FiberHandle"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { type BrokerError, EventBus } from "./events.js"
import { sampleForever, sampleOutbox } from "./inventoryMetrics.js"

/** The advisory lock key of the relay: any constant that no other code uses. */
export const RELAY_LOCK = 4_720_117_311

export interface RelayOptions {
  /** Rows per round (one transaction, one confirmed publish). Default 200. */
  readonly batchSize?: number
  /**
   * How long to wait before looking again when nothing was left to publish, when the relay
   * cannot listen for notifications. Default: `RelayLooks` (100 ms).
   */
  readonly idle?: Duration.DurationInput
  /** Listening: the longest wait without a wake-up before looking anyway. Default: `RelayLooks` (1 s). */
  readonly listeningFallback?: Duration.DurationInput
  /** The longest wait between attempts while the broker or database is failing. Default 5 s. */
  readonly maxBackoff?: Duration.DurationInput
  /**
   * Published nothing until this completes: the process's own consumers binding their queues.
   * RabbitMQ drops an event no queue is bound to, so a relay that published first lost the first
   * events of a fresh broker (stock-checker's queue was bound a second after the first product).
   */
  readonly after?: Effect.Effect<void>
}

interface OutboxRow {
  readonly id: number
  readonly eventId: string
  readonly type: string
  readonly subject: string
  readonly data: unknown
  readonly createdAt: Date | string
  readonly traceparent: string | null
}

/**
 * A producer span per traced row, a child of the change that wrote it; the event carries the
 * span's own context, so the consumer's work hangs below the relay's hop in the trace. A row
 * without trace context (tracing off when it was written) gets no span and carries none.
 */
const publishSpan = (row: OutboxRow) =>
  Option.match(Event.parentSpanOf(row.traceparent ?? undefined), {
    onNone: () => Effect.succeed({ row, span: Option.none<import("effect/Tracer").Span>() }),
    onSome: (parent) =>
      Effect.map(
        Effect.makeSpan(`publish ${row.type}`, {
          parent,
          kind: "producer",
          attributes: {
            "messaging.system": "rabbitmq",
            "messaging.destination.name": Event.EXCHANGE,
            "messaging.message.id": row.eventId
          }
        }),
        (span) => ({ row, span: Option.some(span) })
      )
  })

/**
 * One round: publishes up to `batchSize` unsent rows and marks them sent. Answers how many it
 * published; 0 when there was nothing, or when another relay holds the lock (`lockHeld`).
 */
const publishRound = (
  batchSize: number
): Effect.Effect<
  { readonly published: number; readonly lockHeld: boolean },
  SqlError | BrokerError,
  SqlClient.SqlClient | EventBus
> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const bus = yield* EventBus
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        // The lock, the claim and the mark in one statement (one round trip fewer than a mark apart):
        // the claim's subquery runs only once the lock is held, and the mark becomes visible only
        // when the round commits, after the broker confirmed; a failed publish rolls it back with
        // the round. The snapshot may predate the lock, when the last holder committed just
        // before: rows that holder marked sent meanwhile are re-checked by `for update` (they no
        // longer match `sent_at is null`) and left out, so nothing goes twice.
        const claimed = yield* sql<OutboxRow & { readonly locked: boolean }>`
          with lock as (select pg_try_advisory_xact_lock(${RELAY_LOCK}) as locked),
          claimed as (
            update outbox o set sent_at = now()
            where o.id in (
              select id from outbox, lock
              where lock.locked and sent_at is null
              order by id
              limit ${batchSize}
              for update of outbox
            )
            returning o.id, o.event_id::text as event_id, o.type, o.subject, o.data, o.created_at, o.traceparent
          )
          select lock.locked, c.* from lock left join claimed c on true order by c.id`
        if (!claimed[0]?.locked) return { published: 0, lockHeld: true }
        const rows = claimed.filter((row) => row.id !== null)
        if (rows.length === 0) return { published: 0, lockHeld: false }
        // With tracing off no row carries trace context: no span work per row.
        const traced = rows.some((row) => row.traceparent !== null)
          ? yield* Effect.forEach(rows, publishSpan)
          : rows.map((row) => ({ row, span: Option.none<import("effect/Tracer").Span>() }))
        const published = yield* Effect.exit(
          bus.publish(
            traced.map(({ row, span }) =>
              Event.toCloudEvent({
                eventId: row.eventId,
                type: row.type,
                subject: row.subject,
                // A jsonb column arrives parsed from pg, as text from some drivers.
                data: typeof row.data === "string" ? JSON.parse(row.data) : row.data,
                createdAt: row.createdAt instanceof Date ? row.createdAt : new Date(row.createdAt),
                traceparent: Option.match(span, {
                  onNone: () => row.traceparent,
                  onSome: (span) => Event.traceparentOf(span) ?? row.traceparent
                })
              })
            )
          )
        )
        const endedAt = yield* Clock.currentTimeNanos
        for (const { span } of traced) {
          if (Option.isSome(span)) span.value.end(endedAt, published)
        }
        yield* Exit.isSuccess(published) ? Effect.void : published
        return { published: rows.length, lockHeld: false }
      })
    )
  })

/** One round (see `publishRound`): how many rows it published. */
export const publishPending = (
  batchSize = 200
): Effect.Effect<number, SqlError | BrokerError, SqlClient.SqlClient | EventBus> =>
  Effect.map(publishRound(batchSize), ({ published }) => published)

const whyFailed = (error: unknown) =>
  typeof error === "object" && error !== null && "reason" in error
    ? String(error.reason)
    : error instanceof Error
      ? error.message
      : String(error)

/**
 * This process's commits that wrote events (announced by its store, `Store.EventsCommitted`).
 * A sliding queue of one: the commits made during a round make one more round.
 */
export class LocalCommits extends Context.Tag("@invkit/server/relay/LocalCommits")<
  LocalCommits,
  Queue.Queue<void>
>() {}

/** How often the relay looks on its own; tests lengthen both to show what woke it. */
export class RelayLooks extends Context.Reference<RelayLooks>()("@invkit/server/relay/RelayLooks", {
  defaultValue: (): {
    readonly idle: Duration.DurationInput
    readonly listeningFallback: Duration.DurationInput
  } => ({ idle: "100 millis", listeningFallback: "1 second" })
}) {}

/** How soon a woken relay that found the lock held looks again. */
const LOCK_HELD_RETRY = "10 millis"

/**
 * Whether the relay may hold a connection of its own to LISTEN for committed events: on a real
 * PostgreSQL server, not on the embedded store's socket (one PGlite session for every client).
 */
export class ListenForEvents extends Context.Reference<ListenForEvents>()(
  "@invkit/server/relay/ListenForEvents",
  { defaultValue: () => false }
) {}

/**
 * What the relay waits on between rounds: this process's commits (`LocalCommits`) and, when it
 * can listen, other processes' notifications; else (and at the latest after `idle`, or `fallback`
 * when listening) the clock. A look that finds rows no notification announced means the
 * listening connection was lost: it is opened again.
 */
const wakeUps = (idle: Duration.DurationInput, fallback: Duration.DurationInput) =>
  Effect.gen(function* () {
    const woken = yield* Effect.flatMap(
      Effect.serviceOption(LocalCommits),
      Option.match({ onSome: Effect.succeed, onNone: () => Queue.sliding<void>(1) })
    )
    const notifications = yield* Store.listen(Store.EVENTS_CHANNEL)
    const listening = Option.isSome(notifications) && (yield* ListenForEvents)
    const listener = yield* FiberHandle.make()
    const listen = Option.isSome(notifications)
      ? notifications.value.pipe(
          Stream.runForEach(() => Queue.offer(woken, undefined)),
          Effect.catchAll((error) =>
            Effect.logWarning(`outbox relay: cannot listen for events, polling: ${error.message}`)
          )
        )
      : Effect.void
    if (listening) yield* FiberHandle.run(listener, listen)
    let timedOut = false
    return {
      wait: Queue.take(woken).pipe(
        Effect.timeoutTo({
          duration: listening ? fallback : idle,
          onSuccess: () => false,
          onTimeout: () => true
        }),
        Effect.flatMap((timeout) =>
          Effect.sync(() => {
            timedOut = timeout
          })
        )
      ),
      /** Whether the last wait ended with a wake-up: something committed that is not out yet. */
      woken: () => !timedOut,
      published: (count: number) =>
        listening && timedOut && count > 0
          ? // The old listener lets its connection go before the new one asks for one.
            Effect.zipRight(FiberHandle.clear(listener), Effect.asVoid(FiberHandle.run(listener, listen)))
          : Effect.void
    }
  })

/**
 * Publishes the outbox for as long as it runs: a full batch is followed at once by the next;
 * otherwise it waits for the next wake-up (see the header), or `idle`. Failures are logged and
 * retried with capped exponential backoff.
 */
export const runRelayWith = (
  options: RelayOptions = {}
): Effect.Effect<never, never, SqlClient.SqlClient | EventBus> => {
  const batchSize = options.batchSize ?? 200
  const backoff = Schedule.exponential("100 millis").pipe(
    Schedule.union(Schedule.spaced(options.maxBackoff ?? "5 seconds")),
    Schedule.jittered
  )
  return Effect.gen(function* () {
    const looks = yield* RelayLooks
    // Every relay samples the backlog (a cheap query); they all see the same table.
    yield* Effect.forkScoped(sampleForever("the outbox", sampleOutbox))
    if (options.after) yield* options.after
    const next = yield* wakeUps(
      options.idle ?? looks.idle,
      options.listeningFallback ?? looks.listeningFallback
    )
    const round = publishRound(batchSize).pipe(
      Effect.catchAllDefect((defect) => Effect.fail(defect)),
      Effect.tapError((error) =>
        Effect.logWarning(`outbox relay: cannot publish yet, retrying: ${whyFailed(error)}`)
      ),
      Effect.retry(backoff),
      // The schedule never ends, so the retry never gives up; this only tells the types.
      Effect.orDie,
      Effect.tap(({ published }) => next.published(published)),
      Effect.flatMap(({ published, lockHeld }) =>
        published === batchSize
          ? Effect.void
          : lockHeld && next.woken()
            ? Effect.sleep(LOCK_HELD_RETRY)
            : next.wait
      )
    )
    return yield* Effect.forever(round)
  }).pipe(Effect.scoped, Effect.annotateLogs({ component: "outbox-relay" }))
}

/** The relay with its defaults, once the process's consumers have started: what a service runs. */
export const runRelay = (
  consumersStarted: Effect.Effect<void>
): Effect.Effect<never, never, SqlClient.SqlClient | EventBus> => runRelayWith({ after: consumersStarted })
