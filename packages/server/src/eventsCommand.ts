/**
 * `inv-server events redrive <consumer>`: moves a consumer group's dead letters back to its queue
 * once the cause is fixed (see docs/events.md), on the broker INV_RABBITMQ_URL names.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { describeConfigError, rabbitmqUrl } from "./config.js"
import { redrive } from "./infra/deadLetters.js"

export const eventsUsage = `Usage: inv-server events redrive <consumer>

Moves every message now in the dead-letter queue invkit.<consumer>.dead back to invkit.<consumer>,
where the consumer handles it again (an event applied before is not applied twice). Fix what
made the messages fail first: the reason is in each one's x-invkit-death-reason header.
  <consumer>  stock-updater, stock-checker or supplier-sync (or the queue's name,
              invkit.<consumer>.dead)

Needs INV_RABBITMQ_URL.
`

export class EventsCommandFailed {
  readonly _tag = "EventsCommandFailed"
  constructor(
    readonly message: string,
    /** A usage error (exit 2) rather than a failure of the broker (exit 1). */
    readonly usage: boolean
  ) {}
}

const usageError = (message: string) =>
  Effect.fail(new EventsCommandFailed(`${message}\n\n${eventsUsage}`, true))

/** `stock-updater` or `invkit.stock-updater.dead` → `stock-updater`. */
const consumerOf = (queue: string) => queue.replace(/^invkit\./, "").replace(/\.dead$/, "")

/** The help text, or what was done, as the lines to print on stdout. */
export const eventsCommand = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    if (args.includes("--help") || args.includes("-h")) return eventsUsage.trimEnd()
    const option = args.find((arg) => arg.startsWith("-"))
    if (option !== undefined) return yield* usageError(`inv-server events: unknown option ${option}`)
    const [command, queue, ...rest] = args
    if (command !== "redrive")
      return yield* usageError("inv-server events: the only command is `events redrive`")
    if (queue === undefined || rest.length > 0 || consumerOf(queue) === "") {
      return yield* usageError("inv-server events redrive: name one consumer, e.g. stock-updater")
    }
    const url = yield* rabbitmqUrl.pipe(
      Effect.mapError(
        (error) =>
          new EventsCommandFailed(`inv-server events redrive: ${describeConfigError(error).join("; ")}`, true)
      )
    )
    if (Option.isNone(url)) {
      return yield* usageError(
        "inv-server events redrive: INV_RABBITMQ_URL: set it to the broker's URL, e.g. amqp://user:password@host:5672"
      )
    }
    const done = yield* redrive(url.value, consumerOf(queue)).pipe(
      Effect.mapError((error) => new EventsCommandFailed(`inv-server events redrive: ${error.reason}`, false))
    )
    return `moved ${done.moved} message${done.moved === 1 ? "" : "s"} from ${done.from} to ${done.to}`
  })
