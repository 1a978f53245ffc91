/**
 * The EventBus in one process, for embedded server mode: a PubSub instead of RabbitMQ, with the
 * same contract. Publishing returns once every subscriber has the events; each consumer takes
 * the types it asked for, one at a time. A failed event is handled as on RabbitMQ, by the same
 * decision (redelivery.ts): retried after a growing delay while the others go on, or given up
 * (the in-process "dead-letter queue" is an error in the log, with the reason).
 */

import type { Event } from "@invkit/sdk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import { EventBus } from "./events.js"
import * as InventoryMetrics from "./inventoryMetrics.js"
import { afterFailure, defaultRetryPolicy, type RetryPolicy } from "./redelivery.js"
import { consumeSpan } from "./tracing.js"

/**
 * Events a consumer that subscribes late still gets: the relay may publish before every
 * consumer has started. A replayed event is a duplicate at worst, which the inbox absorbs.
 */
const REPLAY = 1024

export const layer = (retry: RetryPolicy = defaultRetryPolicy): Layer.Layer<EventBus> =>
  Layer.scoped(
    EventBus,
    Effect.gen(function* () {
      const events = yield* Effect.acquireRelease(
        PubSub.unbounded<Event.CloudEvent>({ replay: REPLAY }),
        PubSub.shutdown
      )
      return {
        publish: (batch) => Effect.asVoid(PubSub.publishAll(events, batch)),
        consume: (consumer) =>
          Effect.gen(function* () {
            const subscription = yield* PubSub.subscribe(events)
            const wanted = new Set(consumer.types)
            const scope = yield* Effect.scope
            // One event at a time, retries included, as a RabbitMQ consumer handles its deliveries.
            const oneAtATime = yield* Effect.makeSemaphore(1)
            const deliver = (
              event: Event.CloudEvent,
              attempt: number,
              firstFailedAt?: number
            ): Effect.Effect<void> =>
              Effect.gen(function* () {
                if (attempt > 1) yield* InventoryMetrics.eventRedelivered(consumer.name)
                // One attempt is never cut short by shutdown: it finishes, and its commit stands.
                const exit = yield* Effect.uninterruptible(consumer.handle(event)).pipe(
                  consumeSpan(consumer.name, event, attempt),
                  oneAtATime.withPermits(1),
                  Effect.exit
                )
                if (Exit.isSuccess(exit)) return yield* InventoryMetrics.eventConsumed(consumer.name)
                const now = Date.now()
                const first = firstFailedAt ?? now
                const decision = afterFailure(retry, {
                  cause: exit.cause,
                  attempt,
                  firstFailedAt: first,
                  now
                })
                const annotations = { consumer: consumer.name, eventId: event.id, type: event.type, attempt }
                if (decision._tag === "DeadLetter") {
                  yield* InventoryMetrics.eventDeadLettered(consumer.name)
                  return yield* Effect.logError(`event dead-lettered: ${decision.reason}`).pipe(
                    Effect.annotateLogs(annotations)
                  )
                }
                yield* Effect.logWarning(
                  `event failed (attempt ${attempt}), next attempt in ${Duration.format(decision.delayMillis)}: ${decision.reason}`
                ).pipe(Effect.annotateLogs(annotations))
                // The wait does not hold up the events behind it, as on RabbitMQ's retry queue.
                yield* deliver(event, attempt + 1, first).pipe(
                  Effect.delay(decision.delayMillis),
                  Effect.forkIn(scope)
                )
              })
            yield* Queue.take(subscription).pipe(
              Effect.flatMap((event) => (wanted.has(event.type) ? deliver(event, 1) : Effect.void)),
              Effect.forever,
              Effect.forkScoped
            )
          }),
        // Nothing outlives the process here: a late subscriber gets the replay instead.
        declare: () => Effect.void,
        ready: Effect.succeed(true)
      }
    })
  )
