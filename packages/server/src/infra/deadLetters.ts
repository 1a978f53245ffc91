/**
 * The dead-letter queues from an operator's side: once the cause is fixed, `redrive` moves a
 * consumer group's dead letters back to its queue, where they are handled like new deliveries
 * (the attempt count and the retry time start over; the inbox still makes a message that was
 * applied before a no-op). Each message is copied, confirmed by the broker, then taken off the
 * dead-letter queue: a failure half-way leaves it in one of the two, never in neither.
 */
import * as amqp from "amqplib"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { BrokerError } from "./events.js"
import {
  ATTEMPT_HEADER,
  copyOf,
  DEATH_REASON_HEADER,
  FIRST_FAILED_AT_HEADER,
  LAST_ERROR_HEADER,
  queuesOf,
  ROUTING_KEY_HEADER
} from "./rabbitmq.js"

/** What the last failure wrote on the message, dropped so that it starts over. */
const failureHeaders = [
  ATTEMPT_HEADER,
  FIRST_FAILED_AT_HEADER,
  LAST_ERROR_HEADER,
  DEATH_REASON_HEADER,
  "x-invkit-dead-at",
  "x-death",
  "x-first-death-exchange",
  "x-first-death-queue",
  "x-first-death-reason",
  "x-last-death-exchange",
  "x-last-death-queue",
  "x-last-death-reason"
]

/** A redrive that cannot start, for a reason the operator can fix: said as it is. */
class QueueMissing extends Error {}

export interface Redriven {
  readonly from: string
  readonly to: string
  readonly moved: number
}

/**
 * Moves the messages now in `invkit.<consumerName>.dead` back to `invkit.<consumerName>`. Only
 * those there when it starts: one that fails again and comes back is not moved a second time.
 */
export const redrive = (
  url: Redacted.Redacted<string> | string,
  consumerName: string
): Effect.Effect<Redriven, BrokerError> => {
  const queues = queuesOf(consumerName)
  return Effect.tryPromise({
    try: async () => {
      const connection = await amqp.connect(Redacted.isRedacted(url) ? Redacted.value(url) : url, {
        timeout: 5_000
      })
      try {
        // A passive declare of a missing queue closes its channel: check on one of its own.
        const probe = await connection.createChannel()
        probe.on("error", () => undefined)
        const waiting = await probe.checkQueue(queues.dead).then(
          (queue) => queue.messageCount,
          () => undefined
        )
        if (waiting === undefined) {
          throw new QueueMissing(
            `there is no queue ${queues.dead}: check the consumer's name (e.g. stock-updater)`
          )
        }
        const target = await connection.createChannel().then((channel) => {
          channel.on("error", () => undefined)
          return channel.checkQueue(queues.main).then(
            () => true,
            () => false
          )
        })
        if (!target) {
          throw new QueueMissing(
            `there is no queue ${queues.main} to move the messages to: start ${consumerName} once, or move them by hand if it runs a queue per instance`
          )
        }
        const channel = await connection.createConfirmChannel()
        let moved = 0
        while (moved < waiting) {
          const message = await channel.get(queues.dead, { noAck: false })
          if (message === false) break
          const headers = { ...message.properties.headers }
          for (const header of failureHeaders) delete headers[header]
          // Dead letters from before routing keys were kept carry a queue's name there (the route
          // of a retry), never an event type: without it the type alone is checked.
          if (String(headers[ROUTING_KEY_HEADER]).startsWith("invkit.")) delete headers[ROUTING_KEY_HEADER]
          channel.sendToQueue(queues.main, message.content, copyOf(message, headers))
          await channel.waitForConfirms()
          channel.ack(message)
          moved += 1
        }
        await channel.close()
        return { from: queues.dead, to: queues.main, moved }
      } finally {
        await connection.close().catch(() => undefined)
      }
    },
    catch: (error) =>
      new BrokerError({
        reason:
          error instanceof QueueMissing
            ? error.message
            : `cannot move the messages of ${queues.dead}: ${error instanceof Error ? error.message : String(error)}`
      })
  })
}
