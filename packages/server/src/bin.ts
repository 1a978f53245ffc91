/**
 * inv-server: runs one service (`stock-updater`, `stock-checker`, `supplier-sync`) or `all`
 * three in one process, configured from the environment (see docs/configuration.md).
 *
 * Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the server fails, 2 for a wrong
 * argument or an invalid setting.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as AllMain from "./all/main.js"
import { describeConfigError, type ServerConfig, type Service, serverConfig, services } from "./config.js"
import { eventsCommand } from "./eventsCommand.js"
import { KeyUnreadable } from "./http/auth.js"
import * as Logging from "./infra/logging.js"
import * as Tracing from "./infra/tracing.js"
import * as StockCheckerMain from "./stockChecker/main.js"
import * as StockUpdaterMain from "./stockUpdater/main.js"
import * as SupplierSyncMain from "./supplierSync/main.js"
import { tokenCommand } from "./tokenCommand.js"

const mains: Record<Service, (config: ServerConfig) => Layer.Layer<never, unknown>> = {
  "stock-updater": StockUpdaterMain.main,
  "stock-checker": StockCheckerMain.main,
  "supplier-sync": SupplierSyncMain.main,
  all: AllMain.main
}

const EXIT_USAGE = 2

const usage = `Usage: inv-server <service>
       inv-server token create --role viewer|operator|admin [--ttl 1h] [--subject NAME]
       inv-server events redrive <consumer>

Services:
  stock-updater   stock writes (default port 8081)
  stock-checker   stock reads, cached (default port 8082)
  supplier-sync   products, suppliers, syncs, restock orders (default port 8083)
  all             all three in one process (default port 8080)

Configuration comes from environment variables (docs/configuration.md): PORT, HOST,
INV_DATABASE_URL, INV_DATABASE_READ_URL, INV_HOME, INV_RABBITMQ_URL, INV_REDIS_URL, INV_REDIS_PREFIX,
INV_CACHE_TTL, INV_SHUTDOWN_TIMEOUT, INV_LOG_LEVEL; authentication: INV_AUTH, INV_JWT_SECRET,
INV_JWT_PUBLIC_KEY_FILE, INV_JWT_JWKS_FILE, INV_JWT_ALGORITHM, INV_JWT_AUDIENCE, INV_JWT_ISSUER,
INV_JWT_CLOCK_TOLERANCE; HTTPS: INV_TLS_CERT, INV_TLS_KEY; limits: INV_MAX_BODY_BYTES,
INV_RATE_LIMIT; events: INV_EVENT_RETRY_TIMEOUT.
Requests need a bearer token (set INV_JWT_SECRET, or INV_AUTH=off on a private network).
With no store set, \`inv-server all\` runs on the embedded store in INV_HOME.
`

/** Logs as JSON lines for log collectors; readable lines at a terminal (see infra/logging.ts). */
const logger = Logging.layer(process.stdout.isTTY === true)

/**
 * NodeRuntime runs the finalizers on SIGTERM/SIGINT but waits for them without limit: past
 * INV_SHUTDOWN_TIMEOUT the process exits anyway, non-zero, so a stuck connection cannot hold it.
 */
const boundShutdown = (config: ServerConfig) =>
  Effect.sync(() => {
    const deadline = () =>
      setTimeout(() => {
        process.stderr.write(
          `inv-server: shutdown took longer than INV_SHUTDOWN_TIMEOUT (${config.shutdownTimeoutSeconds}s); exiting\n`
        )
        process.exit(1)
      }, config.shutdownTimeoutSeconds * 1000).unref()
    process.once("SIGTERM", deadline)
    process.once("SIGINT", deadline)
  })

class StartupFailed {
  readonly _tag = "StartupFailed"
  constructor(readonly lines: ReadonlyArray<string>) {}
}

function runService(service: Service) {
  const program = Effect.gen(function* () {
    const config = yield* Effect.mapError(
      serverConfig(service),
      (error) =>
        new StartupFailed([
          "invalid configuration:",
          ...describeConfigError(error).map((line) => `  ${line}`)
        ])
    )
    yield* boundShutdown(config)
    return yield* Effect.zipRight(
      Effect.logInfo(`starting ${service}`),
      Layer.launch(mains[service](config).pipe(Layer.provide(Tracing.layer(service))))
    ).pipe(
      // The first line too: with INV_LOG_LEVEL=none nothing is written.
      Logger.withMinimumLogLevel(config.logLevel)
    )
  }).pipe(
    // Every line of the process names it: several services share one log stream.
    Effect.annotateLogs("service", service),
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
      const failure = Cause.failureOption(cause)
      // A key or certificate file that cannot be used is a setting to fix, like a bad variable.
      const badSetting =
        failure._tag === "Some" &&
        (failure.value instanceof StartupFailed || failure.value instanceof KeyUnreadable)
      const lines =
        failure._tag === "Some" && failure.value instanceof StartupFailed
          ? failure.value.lines
          : failure._tag === "Some" && failure.value instanceof KeyUnreadable
            ? [failure.value.message]
            : failure._tag === "Some" && ConfigError.isConfigError(failure.value)
              ? describeConfigError(failure.value)
              : [`${service} stopped: ${Cause.pretty(cause, { renderErrorCause: false }).split("\n")[0]}`]
      const code = badSetting ? EXIT_USAGE : 1
      return Effect.zipRight(
        Effect.sync(() => process.stderr.write(`inv-server: ${lines.join("\n")}\n`)),
        Effect.sync(() => {
          process.exitCode = code
        })
      )
    }),
    Effect.provide(logger)
  )

  NodeRuntime.runMain(program, {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) =>
      onExit(Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause) ? 1 : Number(process.exitCode ?? 0))
  })
}

/** A one-shot command: its answer on stdout, or its message on stderr and the exit code it picks. */
function runCommand<E extends { readonly message: string }>(
  command: Effect.Effect<string, E>,
  exitCodeOf: (failure: E) => number
) {
  Effect.runPromiseExit(command).then((exit) => {
    if (Exit.isSuccess(exit)) {
      process.stdout.write(`${exit.value}\n`)
      return
    }
    const failure = Cause.failureOption(exit.cause)
    process.stderr.write(`${failure._tag === "Some" ? failure.value.message : Cause.pretty(exit.cause)}\n`)
    process.exitCode = failure._tag === "Some" ? exitCodeOf(failure.value) : 1
  })
}

// Dispatch last: runService reads the constants above.
const argument = process.argv[2]
if (argument === "--help" || argument === "-h" || argument === "help") {
  process.stdout.write(usage)
  process.exit(0)
}
if (argument === "token") {
  runCommand(tokenCommand(process.argv.slice(3)), () => EXIT_USAGE)
} else if (argument === "events") {
  runCommand(eventsCommand(process.argv.slice(3)), (failure) => (failure.usage ? EXIT_USAGE : 1))
} else if (!services.includes(argument as Service)) {
  process.stderr.write(
    `inv-server: ${argument === undefined ? "name a service" : `unknown service "${argument}"`}\n\n${usage}`
  )
  process.exit(EXIT_USAGE)
} else if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(usage)
} else {
  runService(argument as Service)
}
