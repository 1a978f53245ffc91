/**
 * The EventBus in one process, for embedded server mode: a PubSub instead of RabbitMQ, with the
 * same contract. Publishing returns once every subscriber has the events; each consumer takes
 * the types it asked for, one at a time, retries a failing event a bounded number of times, then
 * gives up on it (the in-process "dead-letter queue" is a warning in the log).
 */

import type { Event } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import { EventBus } from "./events.js"
import * as InventoryMetrics from "./inventoryMetrics.js"
import { consumeSpan } from "./tracing.js"

/** Attempts per event, the first included, before it is dead-lettered. */
const MAX_ATTEMPTS = 5

/**
 * Events a consumer that subscribes late still gets: the relay may publish before every
 * consumer has started. A replayed event is a duplicate at worst, which the inbox absorbs.
 */
const REPLAY = 1024

export const layer: Layer.Layer<EventBus> = Layer.scoped(
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
          const deliver = (event: Event.CloudEvent) => {
            let attempt = 0
            // One attempt is never cut short by shutdown: it finishes, and its commit stands.
            const once = Effect.suspend(() => {
              attempt += 1
              return Effect.zipRight(
                attempt > 1 ? InventoryMetrics.eventRedelivered(consumer.name) : Effect.void,
                Effect.uninterruptible(consumer.handle(event)).pipe(
                  consumeSpan(consumer.name, event, attempt)
                )
              )
            })
            return once.pipe(
              Effect.retry({
                times: MAX_ATTEMPTS - 1,
                schedule: Schedule.exponential("50 millis")
              }),
              Effect.zipRight(InventoryMetrics.eventConsumed(consumer.name)),
              Effect.catchAllCause((cause) =>
                Effect.zipRight(
                  InventoryMetrics.eventDeadLettered(consumer.name),
                  Effect.logWarning("event dead-lettered after repeated failures", cause).pipe(
                    Effect.annotateLogs({ consumer: consumer.name, eventId: event.id, type: event.type })
                  )
                )
              )
            )
          }
          yield* Queue.take(subscription).pipe(
            Effect.flatMap((event) => (wanted.has(event.type) ? deliver(event) : Effect.void)),
            Effect.forever,
            Effect.forkScoped
          )
        }),
      ready: Effect.succeed(true)
    }
  })
)
