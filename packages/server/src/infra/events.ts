/**
 * The event bus port: RabbitMQ in server mode, in-process when nothing is configured. Consumers
 * get each event at least once; they de-duplicate with the inbox (see inbox.ts) and acknowledge
 * only after their own work committed.
 */
import { Event } from "@invkit/sdk"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { PermanentFailure } from "./redelivery.js"

export class BrokerError extends Data.TaggedError("BrokerError")<{ readonly reason: string }> {}

export interface Consumer {
  /** The consumer group: one queue per name, shared by every instance of the service. */
  readonly name: string
  /** Event types (routing keys) it wants; an event of another type is dead-lettered. */
  readonly types: ReadonlyArray<string>
  /**
   * The routing keys its queue is bound with on the broker, when not its types: a key an event is
   * published under besides its type (`Event.extraRoutes`) narrows what it is sent. A type left out
   * is unbound, should an earlier version have bound it. Where events go in process, every event
   * of its types reaches it.
   */
  readonly routes?: ReadonlyArray<string>
  /**
   * Handles one event. Success acknowledges it; a `PermanentFailure` sends it to the dead-letter
   * queue at once; any other failure is retried with growing delays for a bounded time, then the
   * event goes to the dead-letter queue with the reason (see redelivery.ts).
   */
  readonly handle: (event: Event.CloudEvent) => Effect.Effect<void, unknown>
  /**
   * Handles several first deliveries at once (as many as the broker had sent ahead); success
   * acknowledges them all. If it fails, each event is handled again alone by `handle`, which
   * decides its fate: what the batch did must then be harmless to do again (a cache drop) or be
   * skipped by the inbox (what it committed before failing). For work that costs a round trip or a
   * transaction whatever the number of events: dropping cache entries, a consumer's commit.
   */
  readonly handleBatch?: (events: ReadonlyArray<Event.CloudEvent>) => Effect.Effect<void, unknown>
  /**
   * Every instance gets every event (a queue of its own) instead of sharing the group's queue:
   * for effects that live in the instance itself, such as an in-memory cache.
   */
  readonly perInstance?: boolean
}

export class EventBus extends Context.Tag("@invkit/server/EventBus")<
  EventBus,
  {
    /** Publishes in order, returning once the broker confirmed every event. */
    readonly publish: (events: ReadonlyArray<Event.CloudEvent>) => Effect.Effect<void, BrokerError>
    /** Runs a consumer until the scope closes; then stops taking events and finishes the current one. */
    readonly consume: (consumer: Consumer) => Effect.Effect<void, BrokerError, Scope.Scope>
    /**
     * Declares a consumer group's queue and bindings without consuming, so the events published
     * before its process first started wait for it (a no-op where nothing is kept: in-process).
     */
    readonly declare: (consumer: Consumer) => Effect.Effect<void, BrokerError>
    /** Whether the broker answers, for /ready. */
    readonly ready: Effect.Effect<boolean>
  }
>() {}

/** A consumer's reading of an event's `data`: invalid data is a permanent failure naming the field. */
export const eventData = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Event.decodeData(schema)
  return (event: Event.CloudEvent): Effect.Effect<A, PermanentFailure> =>
    Effect.mapError(
      decode(event),
      (error) =>
        new PermanentFailure({ reason: `${event.type} ${event.id} has invalid data: ${error.message}` })
    )
}
