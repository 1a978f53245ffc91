/**
 * The EventBus on RabbitMQ (amqplib).
 *
 * Publishing: one confirm channel, CloudEvents JSON on the durable topic exchange
 * `inventory.events`, routing key = event type, persistent, `messageId` = event id. `publish`
 * returns only after the broker confirmed every event of the call.
 *
 * Consuming: one durable queue per consumer name, `invkit.<name>`, shared by every instance of
 * the service and bound to the consumer's types. Each instance handles its deliveries in order,
 * one at a time or, for a consumer with `handleBatch`, a run of first deliveries together (see
 * `deliverAll`), and acks after the handler succeeded, that is after the consumer's own commit.
 * A delivery is handled only if its body is a CloudEvents envelope of a type the consumer takes,
 * published under a routing key equal to that type; anything else is a permanent failure.
 * What follows a failure is decided by `afterFailure` (redelivery.ts, shared with the in-process
 * bus): a retry is republished to `invkit.<name>.retry`, whose messages expire after the decided
 * delay back into `invkit.<name>`, with the attempt, the first failure's time and the original
 * routing key in headers; a dead letter goes to `invkit.<name>.dead` with the reason in
 * `x-invkit-death-reason`. The copy is confirmed by the broker before the original is acked, so a
 * failing event is never lost and never loops.
 *
 * The connection is watched: when it drops (broker restart, network), `publish` fails with
 * BrokerError at once, a supervisor reconnects with capped exponential backoff, and every
 * consumer opens its channel again. Deliveries that were not acked come back from the broker.
 * At startup the layer keeps trying for a while (`startupTimeout`) before it fails; `consume`
 * returns once the consumer's queues are declared and it is subscribed, waiting for the broker if
 * it is away at that moment.
 */

import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import type { Writable } from "node:stream"
import { Event, InvalidInput, Store } from "@invkit/sdk"
import * as amqp from "amqplib"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { BrokerError, type Consumer, EventBus } from "./events.js"
import * as InventoryMetrics from "./inventoryMetrics.js"
import { afterFailure, defaultRetryPolicy, PermanentFailure, type RetryPolicy } from "./redelivery.js"
import { consumeBatchSpan, consumeSpan } from "./tracing.js"

export interface RabbitMqOptions {
  /**
   * Deliveries in flight per consumer instance (unacked at the broker), and so a batch's largest
   * size. Default `DEFAULT_PREFETCH`.
   */
  readonly prefetch?: number
  /** How long and how often a failing event is retried before it is dead-lettered. */
  readonly retry?: RetryPolicy
  /** How long a publish may wait for the broker's confirms before it fails. Default 5 s. */
  readonly publishTimeout?: Duration.DurationInput
  /** How long one connection attempt may take. Default 2 s. */
  readonly connectTimeout?: Duration.DurationInput
  /**
   * How long startup keeps trying to reach the broker before the layer fails. Default 15 s, so a
   * process started together with the broker (or during a restart of it) does not crash-loop.
   */
  readonly startupTimeout?: Duration.DurationInput
}

/**
 * A consumer's deliveries in flight. Under a steady stream of adjustments the batches filled up
 * to it: at 16, 0.24–0.25 ms (stock-checker) and 0.20 ms (supplier-sync) of CPU per event went
 * mostly to each batch's Redis write, ack and transaction; at 64, 0.18–0.19 and 0.15–0.17 ms
 * (docs/benchmarks-log.md, section 3). 128 and 256 gave no more.
 */
export const DEFAULT_PREFETCH = 64

export const CONTENT_TYPE = "application/cloudevents+json"
/** Which attempt a delivery is, 1 for the first; set on the copies put in the retry queue. */
export const ATTEMPT_HEADER = "x-invkit-attempt"
/** Why a message was dead-lettered, on the copy in `invkit.<name>.dead`. */
export const DEATH_REASON_HEADER = "x-invkit-death-reason"
/** The last failure of a message waiting in the retry queue. */
export const LAST_ERROR_HEADER = "x-invkit-last-error"
/** When the message first failed (epoch milliseconds): its retries end `retryFor` after it. */
export const FIRST_FAILED_AT_HEADER = "x-invkit-first-failed-at"
/**
 * The routing key the message was published with, on its copies: they reach the queue through
 * the default exchange, under the queue's name.
 */
export const ROUTING_KEY_HEADER = "x-invkit-routing-key"

/** The queues of one consumer group; a per-instance consumer's main and retry queues are its own. */
export const queuesOf = (consumerName: string, instance?: string) => ({
  main: instance === undefined ? `invkit.${consumerName}` : `invkit.${consumerName}.${instance}`,
  retry: instance === undefined ? `invkit.${consumerName}.retry` : `invkit.${consumerName}.${instance}.retry`,
  dead: `invkit.${consumerName}.dead`
})

interface Connection {
  readonly model: amqp.ChannelModel
  readonly publisher: amqp.ConfirmChannel
  /** Completes when the connection (or its publishing channel) is gone. */
  readonly lost: Deferred.Deferred<void>
  readonly isOpen: () => boolean
}

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error))

const describeUrl = Store.safeUrl

/** How a copy of `message` is published to one of the consumer's queues: persistent, with `headers`. */
export const copyOf = (message: amqp.Message, headers: amqp.MessagePropertyHeaders): amqp.Options.Publish => {
  const { contentType, messageId, type, timestamp, appId } = message.properties
  return { persistent: true, contentType, messageId, type, timestamp, appId, headers }
}

/** Header values are strings, numbers or buffers on the wire. */
const headerNumber = (message: amqp.Message, header: string): number | undefined => {
  const raw = message.properties.headers?.[header]
  const value = typeof raw === "number" ? raw : raw === undefined ? Number.NaN : Number(String(raw))
  return Number.isFinite(value) ? value : undefined
}

/** Which attempt a delivery is; an unreadable count starts over at 1. */
const attemptOf = (message: amqp.Message): number => {
  const attempt = headerNumber(message, ATTEMPT_HEADER) ?? 1
  return Number.isInteger(attempt) && attempt >= 1 ? attempt : 1
}

/**
 * The routing key the message was published with, or none for a message put straight into the
 * queue (through the default exchange) without saying it.
 */
const routingKeyOf = (message: amqp.Message): string | undefined => {
  if (message.fields.exchange !== "") return message.fields.routingKey
  const header = message.properties.headers?.[ROUTING_KEY_HEADER]
  return header === undefined ? undefined : String(header)
}

/**
 * Runs `publish` so that the messages it publishes leave in one write to the socket. amqplib
 * writes each message to its socket apart, a system call each, in a `setImmediate` that its
 * channel's stream schedules on the next tick after the first publish. The socket is corked while
 * `publish` runs and uncorked right after those writes: a tick queued after the stream's own
 * schedules the uncork after amqplib's. Measured under 32 connections of adjustments: RabbitMQ's
 * CPU per event 0.174 → 0.160 ms, the machine's per adjustment 1.73–1.75 → 1.60–1.67 ms. Were
 * amqplib to write later, the uncork would come first and the writes go out one by one, as
 * before. The socket is not in amqplib's types, so it is looked for, not assumed.
 */
const sentTogether = (model: amqp.ChannelModel, publish: () => void) => {
  const socket = (model.connection as { readonly stream?: Partial<Writable> }).stream
  if (typeof socket?.cork !== "function" || typeof socket.uncork !== "function") return publish()
  socket.cork()
  try {
    publish()
  } finally {
    process.nextTick(() => setImmediate(() => socket.uncork?.()))
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The event in a delivery, if the consumer may handle it; otherwise a permanent failure saying why. */
const accept = (
  consumer: Consumer,
  message: amqp.Message,
  routingKey: string | undefined
): Effect.Effect<Event.CloudEvent, PermanentFailure> =>
  Effect.try({
    // Strict, as a request body is: bytes that are not UTF-8 would become U+FFFD, and be stored.
    try: () => utf8.decode(message.content),
    catch: () => new InvalidInput({ field: "input", rule: "is not valid UTF-8; send JSON encoded in UTF-8" })
  }).pipe(
    Effect.flatMap(Event.decodeEnvelope),
    Effect.mapError(
      (error) => new PermanentFailure({ reason: `not a CloudEvents 1.0 JSON envelope: ${error.message}` })
    ),
    Effect.filterOrElse(
      (event) => consumer.types.includes(event.type),
      (event) =>
        new PermanentFailure({
          reason: `type ${JSON.stringify(event.type)} is not one ${consumer.name} takes (${consumer.types.join(", ")})`
        })
    ),
    Effect.filterOrElse(
      (event) => routingKey === undefined || routingKey === event.type,
      (event) =>
        new PermanentFailure({
          reason: `routing key ${JSON.stringify(routingKey)} does not match the event's type ${JSON.stringify(event.type)}`
        })
    )
  )

export const layer = (
  url: Redacted.Redacted<string> | string,
  options: RabbitMqOptions = {}
): Layer.Layer<EventBus, BrokerError> =>
  Layer.scoped(
    EventBus,
    Effect.gen(function* () {
      const rawUrl = Redacted.isRedacted(url) ? Redacted.value(url) : url
      const where = describeUrl(rawUrl)
      // Names this bus's own queues (per-instance consumers); they go away with it (auto-delete).
      const instance = `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`
      const queuesFor = (consumer: Consumer) =>
        queuesOf(consumer.name, consumer.perInstance ? instance : undefined)
      const prefetch = options.prefetch ?? DEFAULT_PREFETCH
      const retryPolicy = options.retry ?? defaultRetryPolicy
      const publishTimeout = options.publishTimeout ?? "5 seconds"
      const connectTimeoutMs = Duration.toMillis(options.connectTimeout ?? "2 seconds")

      const connect: Effect.Effect<Connection, BrokerError> = Effect.flatMap(
        Effect.async<{ model: amqp.ChannelModel; publisher: amqp.ConfirmChannel }, BrokerError>((resume) => {
          let abandoned = false
          const attempt = async () => {
            const model = await amqp.connect(rawUrl, { timeout: connectTimeoutMs })
            try {
              const publisher = await model.createConfirmChannel()
              await publisher.assertExchange(Event.EXCHANGE, "topic", { durable: true })
              return { model, publisher }
            } catch (error) {
              await model.close().catch(() => undefined)
              throw error
            }
          }
          attempt().then(
            (opened) => {
              // An attempt interrupted while in flight must not leave a connection behind.
              if (abandoned) opened.model.close().catch(() => undefined)
              else resume(Effect.succeed(opened))
            },
            (error) =>
              resume(
                Effect.fail(
                  new BrokerError({
                    reason: `cannot connect to RabbitMQ at ${where}: ${errorMessage(error)}`
                  })
                )
              )
          )
          return Effect.sync(() => {
            abandoned = true
          })
        }),
        ({ model, publisher }) =>
          Effect.map(Deferred.make<void>(), (lost): Connection => {
            let open = true
            const markLost = () => {
              open = false
              Deferred.unsafeDone(lost, Exit.void)
            }
            // Errors are followed by "close"; without listeners they would be thrown.
            model.on("error", () => undefined)
            model.on("close", markLost)
            publisher.on("error", () => undefined)
            publisher.on("close", () => {
              // A publishing channel closed by the broker (e.g. after a channel error) is recovered
              // the same way as a lost connection: one path back, well tested.
              markLost()
              model.close().catch(() => undefined)
            })
            return { model, publisher, lost, isOpen: () => open }
          })
      )

      const reconnectSchedule = Schedule.exponential("100 millis").pipe(
        Schedule.union(Schedule.spaced("5 seconds")),
        Schedule.jittered
      )
      const state = yield* SubscriptionRef.make<Option.Option<Connection>>(Option.none())
      const first = yield* connect.pipe(
        Effect.retry(reconnectSchedule.pipe(Schedule.upTo(options.startupTimeout ?? "15 seconds")))
      )
      yield* SubscriptionRef.set(state, Option.some(first))

      // Registered before the supervisor is forked, so it runs after the supervisor stopped.
      yield* Effect.addFinalizer(() =>
        Effect.flatMap(SubscriptionRef.get(state), (current) =>
          Option.match(current, {
            onNone: () => Effect.void,
            onSome: ({ model }) => Effect.promise(() => model.close().catch(() => undefined))
          })
        )
      )

      const supervise = (initial: Connection): Effect.Effect<never> =>
        Effect.gen(function* () {
          let current = initial
          while (true) {
            yield* Deferred.await(current.lost)
            yield* SubscriptionRef.set(state, Option.none())
            yield* Effect.logWarning(`RabbitMQ connection to ${where} lost; reconnecting`)
            current = yield* connect.pipe(
              Effect.tapError((error) => Effect.logDebug(error.reason)),
              Effect.retry(reconnectSchedule),
              Effect.orDie
            )
            yield* SubscriptionRef.set(state, Option.some(current))
            yield* Effect.logInfo(`RabbitMQ connection to ${where} restored`)
          }
        })
      yield* Effect.forkScoped(supervise(first))

      const currentConnection = Effect.flatMap(SubscriptionRef.get(state), (current) =>
        Option.isSome(current) && current.value.isOpen()
          ? Effect.succeed(current.value)
          : Effect.fail(new BrokerError({ reason: `RabbitMQ at ${where} is not connected (reconnecting)` }))
      )

      /** The next open connection, waiting for the supervisor if there is none now. */
      const nextConnection = state.changes.pipe(
        Stream.filterMap((current) => Option.filter(current, (connection) => connection.isOpen())),
        Stream.runHead,
        Effect.flatten,
        Effect.orDie
      )

      // One publisher at a time on the channel, so each call's confirms are its own and order holds.
      const publishing = yield* Effect.makeSemaphore(1)

      const publish = (events: ReadonlyArray<Event.CloudEvent>): Effect.Effect<void, BrokerError> =>
        events.length === 0
          ? Effect.void
          : Effect.flatMap(currentConnection, ({ model, publisher }) =>
              Effect.async<void, BrokerError>((resume) => {
                try {
                  sentTogether(model, () => {
                    for (const event of events) {
                      const extra = Event.extraRoutes(event)
                      publisher.publish(Event.EXCHANGE, event.type, Buffer.from(JSON.stringify(event)), {
                        persistent: true,
                        contentType: CONTENT_TYPE,
                        messageId: event.id,
                        type: event.type,
                        timestamp: Math.floor(Date.parse(event.time ?? "") / 1000) || undefined,
                        ...(extra.length > 0 ? { BCC: [...extra] } : {})
                      })
                    }
                  })
                } catch (error) {
                  resume(Effect.fail(new BrokerError({ reason: `publish failed: ${errorMessage(error)}` })))
                  return
                }
                publisher.waitForConfirms().then(
                  () => resume(Effect.void),
                  (error) =>
                    resume(
                      Effect.fail(
                        new BrokerError({
                          reason: `RabbitMQ did not confirm the events: ${errorMessage(error)}`
                        })
                      )
                    )
                )
              })
            ).pipe(
              Effect.timeoutFail({
                duration: publishTimeout,
                onTimeout: () =>
                  new BrokerError({
                    reason: `RabbitMQ did not confirm the events within ${Duration.format(publishTimeout)}`
                  })
              }),
              publishing.withPermits(1)
            )

      /** Sends a copy of `message` to one of the consumer's own queues, confirmed by the broker. */
      const sendCopy = (
        channel: amqp.ConfirmChannel,
        queue: string,
        message: amqp.ConsumeMessage,
        headers: Record<string, unknown>,
        expiration?: number
      ) =>
        Effect.tryPromise({
          try: () => {
            channel.sendToQueue(queue, message.content, {
              ...copyOf(message, { ...message.properties.headers, ...headers }),
              ...(expiration === undefined ? {} : { expiration: String(expiration) })
            })
            return channel.waitForConfirms()
          },
          catch: (error) =>
            new BrokerError({ reason: `cannot move the message to ${queue}: ${errorMessage(error)}` })
        })

      /**
       * The channels on which a delivery was left unacknowledged (a move or an ack that failed):
       * there, acknowledging "every delivery up to this one" would take that one too.
       */
      const leftUnacked = new WeakSet<amqp.Channel>()

      /**
       * One delivery: handled and acked, or moved to the retry or dead-letter queue and then acked.
       * If moving fails (the channel is gone), nothing is acked and the broker delivers it again.
       */
      const deliver = (consumer: Consumer, channel: amqp.ConfirmChannel, message: amqp.ConsumeMessage) =>
        Effect.gen(function* () {
          const queues = queuesFor(consumer)
          const attempt = attemptOf(message)
          if (attempt > 1 || message.fields.redelivered)
            yield* InventoryMetrics.eventRedelivered(consumer.name)
          const routingKey = routingKeyOf(message)
          const accepted = yield* Effect.exit(accept(consumer, message, routingKey))
          const exit = Exit.isFailure(accepted)
            ? accepted
            : yield* Effect.suspend(() => consumer.handle(accepted.value)).pipe(
                consumeSpan(consumer.name, accepted.value, attempt),
                Effect.exit
              )
          if (Exit.isSuccess(exit)) {
            channel.ack(message)
            yield* InventoryMetrics.eventConsumed(consumer.name)
            return
          }
          const annotations = {
            consumer: consumer.name,
            eventId: message.properties.messageId ?? "(none)",
            type: Exit.isSuccess(accepted)
              ? accepted.value.type
              : (message.properties.type ?? routingKey ?? "(unknown)"),
            attempt
          }
          const now = Date.now()
          const firstFailedAt = headerNumber(message, FIRST_FAILED_AT_HEADER) ?? now
          const decision = afterFailure(retryPolicy, { cause: exit.cause, attempt, firstFailedAt, now })
          const original = routingKey === undefined ? {} : { [ROUTING_KEY_HEADER]: routingKey }
          if (decision._tag === "DeadLetter") {
            yield* sendCopy(channel, queues.dead, message, {
              ...original,
              [DEATH_REASON_HEADER]: decision.reason,
              [ATTEMPT_HEADER]: attempt,
              "x-invkit-consumer": consumer.name,
              "x-invkit-dead-at": new Date(now).toISOString()
            })
            channel.ack(message)
            yield* InventoryMetrics.eventDeadLettered(consumer.name)
            yield* Effect.logError(`event dead-lettered to ${queues.dead}: ${decision.reason}`).pipe(
              Effect.annotateLogs(annotations)
            )
          } else {
            yield* sendCopy(
              channel,
              queues.retry,
              message,
              {
                ...original,
                [ATTEMPT_HEADER]: attempt + 1,
                [FIRST_FAILED_AT_HEADER]: firstFailedAt,
                [LAST_ERROR_HEADER]: decision.reason
              },
              decision.delayMillis
            )
            channel.ack(message)
            yield* Effect.logWarning(
              `event failed (attempt ${attempt}), next attempt in ${Duration.format(decision.delayMillis)}: ${decision.reason}`
            ).pipe(Effect.annotateLogs(annotations))
          }
        }).pipe(
          // An ack or a move on a channel that just closed: the broker redelivers; the inbox absorbs it.
          Effect.catchAllCause((cause) =>
            Effect.zipRight(
              Effect.sync(() => leftUnacked.add(channel)),
              Effect.logWarning("delivery left unacked; the broker will deliver it again", cause)
            )
          )
        )

      /**
       * Several deliveries, in the order they came: each run of first deliveries that are valid
       * events goes to the consumer's `handleBatch` together and is acked together (one by one if
       * the batch fails); any other delivery (a redelivery, a retry, an invalid one) is handled
       * alone where it stands, so a level's events are handled in their order.
       */
      const deliverAll = (
        consumer: Consumer,
        channel: amqp.ConfirmChannel,
        messages: ReadonlyArray<amqp.ConsumeMessage>
      ): Effect.Effect<void> =>
        Effect.gen(function* () {
          const handleBatch = consumer.handleBatch
          if (handleBatch === undefined || messages.length < 2) {
            return yield* Effect.forEach(messages, (message) => deliver(consumer, channel, message), {
              discard: true
            })
          }
          let batch: Array<{ readonly message: amqp.ConsumeMessage; readonly event: Event.CloudEvent }> = []
          const flush = Effect.suspend(() => {
            const taken = batch
            batch = []
            return taken.length < 2
              ? Effect.forEach(taken, ({ message }) => deliver(consumer, channel, message), { discard: true })
              : deliverBatch(consumer, channel, handleBatch, taken)
          })
          for (const message of messages) {
            const accepted =
              attemptOf(message) === 1 && !message.fields.redelivered
                ? yield* Effect.option(accept(consumer, message, routingKeyOf(message)))
                : Option.none()
            if (Option.isSome(accepted)) {
              batch.push({ message, event: accepted.value })
            } else {
              yield* flush
              yield* deliver(consumer, channel, message)
            }
          }
          yield* flush
        })

      /** Deliveries handled by `handleBatch` and acked together, or one by one if it fails. */
      const deliverBatch = (
        consumer: Consumer,
        channel: amqp.ConfirmChannel,
        handleBatch: NonNullable<Consumer["handleBatch"]>,
        batch: ReadonlyArray<{ readonly message: amqp.ConsumeMessage; readonly event: Event.CloudEvent }>
      ): Effect.Effect<void> =>
        Effect.gen(function* () {
          const handled = yield* Effect.suspend(() => handleBatch(batch.map(({ event }) => event))).pipe(
            consumeBatchSpan(
              consumer.name,
              batch.map(({ event }) => event)
            ),
            Effect.exit
          )
          if (Exit.isFailure(handled)) {
            return yield* Effect.forEach(batch, ({ message }) => deliver(consumer, channel, message), {
              discard: true
            })
          }
          yield* Effect.sync(() => {
            // Deliveries are handled in their order, so every one before this batch's on the
            // channel was acknowledged already, unless one was left unacknowledged: one frame then
            // acknowledges the whole batch ("every delivery up to this one").
            if (leftUnacked.has(channel)) for (const { message } of batch) channel.ack(message)
            else channel.ack(batch[batch.length - 1]!.message, true)
          }).pipe(
            Effect.zipRight(InventoryMetrics.eventsConsumedBy(consumer.name, batch.length)),
            Effect.catchAllCause((cause) =>
              Effect.zipRight(
                Effect.sync(() => leftUnacked.add(channel)),
                Effect.logWarning("deliveries left unacked; the broker will deliver them again", cause)
              )
            )
          )
        })

      /** A consumer's queues (main, retry, dead letters) and the main queue's bindings. */
      const declareQueues = async (channel: amqp.Channel, consumer: Consumer) => {
        const queues = queuesFor(consumer)
        const own = consumer.perInstance === true
        await channel.assertQueue(queues.main, own ? { durable: false, autoDelete: true } : { durable: true })
        const routes = consumer.routes ?? consumer.types
        for (const route of routes) await channel.bindQueue(queues.main, Event.EXCHANGE, route)
        for (const type of consumer.types) {
          if (!routes.includes(type)) await channel.unbindQueue(queues.main, Event.EXCHANGE, type)
        }
        // Expired retries go back to the main queue through the default exchange.
        await channel.assertQueue(queues.retry, {
          durable: !own,
          arguments: {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queues.main,
            // Nobody consumes a retry queue, so auto-delete never fires: an instance's own one
            // goes once idle for an hour after the instance is gone.
            ...(own ? { "x-expires": 3_600_000 } : {})
          }
        })
        await channel.assertQueue(queues.dead, { durable: true })
      }

      /**
       * Another process's consumer group's queues, so the events published before that process
       * first started wait for it: a queue per instance is its own process's business.
       */
      const declare = (consumer: Consumer): Effect.Effect<void, BrokerError> =>
        consumer.perInstance === true
          ? Effect.void
          : Effect.flatMap(nextConnection, ({ model }) =>
              Effect.tryPromise({
                try: async () => {
                  const channel = await model.createChannel()
                  channel.on("error", () => undefined)
                  try {
                    await declareQueues(channel, consumer)
                  } finally {
                    await channel.close().catch(() => undefined)
                  }
                },
                catch: (error) =>
                  new BrokerError({
                    reason: `cannot declare the queues of ${consumer.name}: ${errorMessage(error)}`
                  })
              })
            )

      /** One consumer on one connection, until the channel closes or the scope ends. */
      const session = (
        consumer: Consumer,
        connection: Connection,
        started: Deferred.Deferred<void, BrokerError>
      ) =>
        Effect.gen(function* () {
          const queues = queuesFor(consumer)
          const failWith = (what: string) => (error: unknown) =>
            new BrokerError({ reason: `consumer ${consumer.name}: cannot ${what}: ${errorMessage(error)}` })
          const channel = yield* Effect.acquireRelease(
            Effect.tryPromise({
              try: () => connection.model.createConfirmChannel(),
              catch: failWith("open a channel")
            }),
            (channel) => Effect.promise(() => channel.close().catch(() => undefined))
          )
          const closed = yield* Deferred.make<void>()
          channel.on("error", () => undefined)
          channel.on("close", () => Deferred.unsafeDone(closed, Exit.void))
          yield* Effect.tryPromise({
            try: async () => {
              await channel.prefetch(prefetch)
              await declareQueues(channel, consumer)
            },
            catch: failWith(`declare its queues ${queues.main}, ${queues.retry}, ${queues.dead}`)
          })
          const mailbox = yield* Queue.unbounded<amqp.ConsumeMessage | null>()
          const { consumerTag } = yield* Effect.tryPromise({
            try: () => channel.consume(queues.main, (message) => Queue.unsafeOffer(mailbox, message)),
            catch: failWith(`consume ${queues.main}`)
          })
          // Runs before the channel closes: stop taking deliveries, let the current one finish.
          yield* Effect.addFinalizer(() =>
            Effect.promise(() => channel.cancel(consumerTag).catch(() => undefined))
          )
          yield* Deferred.succeed(started, undefined)

          // One delivery waited for, then every one that arrived meanwhile (a socket read brings
          // many): `takeBetween(mailbox, 1, n)` would hand over the one it waited for alone.
          const work = Effect.zipWith(
            Queue.take(mailbox),
            Queue.takeUpTo(mailbox, consumer.handleBatch === undefined ? 0 : prefetch - 1),
            (first, rest) => Chunk.prepend(rest, first)
          ).pipe(
            Effect.flatMap((taken) => {
              const messages = Chunk.toReadonlyArray(taken)
              const cancelled = messages.indexOf(null)
              const deliveries = (
                cancelled === -1 ? messages : messages.slice(0, cancelled)
              ) as Array<amqp.ConsumeMessage>
              // Deliveries are never cut short by shutdown: they finish and are acked.
              return Effect.zipRight(
                Effect.uninterruptible(deliverAll(consumer, channel, deliveries)),
                cancelled === -1
                  ? Effect.void
                  : Effect.fail(new BrokerError({ reason: `the broker cancelled consumer ${consumer.name}` }))
              )
            }),
            Effect.forever
          )
          yield* Effect.raceFirst(work, Deferred.await(closed))
        })

      /**
       * The dead-letter queue's depth, from a passive declare on a channel of its own (a declare
       * of a missing queue closes the channel it runs on).
       */
      const sampleDeadLetters = (consumer: Consumer) =>
        Effect.flatMap(currentConnection, ({ model }) =>
          Effect.tryPromise(async () => {
            const channel = await model.createChannel()
            channel.on("error", () => undefined)
            try {
              return (await channel.checkQueue(queuesFor(consumer).dead)).messageCount
            } finally {
              await channel.close().catch(() => undefined)
            }
          })
        ).pipe(Effect.flatMap((messages) => InventoryMetrics.deadLetters(consumer.name, messages)))

      const consume = (consumer: Consumer): Effect.Effect<void, BrokerError, Scope.Scope> =>
        Effect.gen(function* () {
          const started = yield* Deferred.make<void, BrokerError>()
          const loop = Effect.gen(function* () {
            while (true) {
              const connection = yield* nextConnection
              const exit = yield* Effect.exit(Effect.scoped(session(consumer, connection, started)))
              if (Exit.isFailure(exit)) {
                if (!(yield* Deferred.isDone(started))) {
                  yield* Deferred.failCause(started, exit.cause)
                  return
                }
                yield* Effect.logWarning(`consumer ${consumer.name} stopped; resuming`, exit.cause)
              }
              // Give the supervisor time to notice a lost connection before trying again.
              yield* Effect.sleep("200 millis")
            }
          })
          // A broker that is away right now (restarting) is waited for, not an error: the consumer
          // starts with the next connection. Only a failure to set the consumer up fails.
          yield* Effect.forkScoped(loop)
          yield* Deferred.await(started)
          yield* Effect.forkScoped(
            InventoryMetrics.sampleForever(
              `the dead-letter queue of ${consumer.name}`,
              sampleDeadLetters(consumer)
            )
          )
        })

      return {
        publish,
        consume,
        declare,
        ready: Effect.map(
          SubscriptionRef.get(state),
          (current) => Option.isSome(current) && current.value.isOpen()
        )
      }
    })
  )
