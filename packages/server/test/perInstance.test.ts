/**
 * Consumer groups on the real broker: a shared consumer's events are split between the
 * instances of a service (one queue per group), while a per-instance consumer — stock-checker
 * with a cache in its own memory — hears every event in every instance.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Event } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import { EventBus } from "../src/infra/events.js"
import * as RabbitMq from "../src/infra/rabbitmq.js"
import {
  deleteQueuesAfterwards,
  eventually,
  RABBITMQ_URL,
  runId,
  servicesReachable
} from "./eventFixtures.js"

const EVENTS = 6

/** Two instances of a service: two connections to the broker, each running the same consumer. */
const twoInstancesHear = (name: string, perInstance: boolean) =>
  Effect.gen(function* () {
    yield* deleteQueuesAfterwards(name)
    const type = `test.${name}`
    const heard = [yield* Ref.make(0), yield* Ref.make(0)] as const
    const buses = yield* Effect.all([
      Layer.build(RabbitMq.layer(RABBITMQ_URL)),
      Layer.build(RabbitMq.layer(RABBITMQ_URL))
    ])
    for (const [index, context] of buses.entries()) {
      const bus = context.unsafeMap.get(EventBus.key) as EventBus["Type"]
      yield* bus.consume({
        name,
        types: [type],
        perInstance,
        handle: () => Ref.update(heard[index]!, (n) => n + 1)
      })
    }
    const publisher = buses[0]!.unsafeMap.get(EventBus.key) as EventBus["Type"]
    const events = Array.from(
      { length: EVENTS },
      (_, i): Event.CloudEvent => ({
        specversion: "1.0",
        id: `${name}-${i}`,
        source: "test",
        type,
        subject: `SKU-${i}`,
        data: {}
      })
    )
    yield* publisher.publish(events)
    const total = Effect.map(Effect.all(heard.map(Ref.get)), ([a, b]) => a! + b!)
    yield* eventually(
      "the events were handled",
      Effect.map(total, (n) => n >= (perInstance ? 2 * EVENTS : EVENTS))
    )
    yield* Effect.sleep("300 millis")
    return yield* Effect.all(heard.map(Ref.get))
  })

describe.skipIf(!(await servicesReachable("rabbitmq")))("consumer groups on RabbitMQ", () => {
  it.scopedLive("a shared consumer hears each event once across its instances", () =>
    Effect.map(twoInstancesHear(`test-shared-${runId}`, false), ([a, b]) => expect(a! + b!).toBe(EVENTS))
  )

  it.scopedLive("a per-instance consumer hears every event in every instance", () =>
    Effect.map(twoInstancesHear(`test-own-${runId}`, true), (heard) =>
      expect(heard).toEqual([EVENTS, EVENTS])
    )
  )
})
