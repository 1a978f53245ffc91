/**
 * Server configuration, only from environment variables through Effect `Config`. Every invalid
 * value is reported by name with what is expected; secrets (URLs with credentials) are `Redacted`
 * and never echoed back.
 */
import { Store } from "@invkit/sdk"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import type * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

export const services = ["stock-updater", "stock-checker", "supplier-sync", "all"] as const
export type Service = (typeof services)[number]

export const defaultPorts: Record<Service, number> = {
  "stock-updater": 8081,
  "stock-checker": 8082,
  "supplier-sync": 8083,
  all: 8080
}

export interface ServerConfig {
  readonly port: number
  readonly host: string
  /** PostgreSQL; none means the embedded store in `home`. */
  readonly databaseUrl: Option.Option<Redacted.Redacted<string>>
  readonly home: string
  /** RabbitMQ; none means in-process events. */
  readonly rabbitmqUrl: Option.Option<Redacted.Redacted<string>>
  /** Redis; none means an in-memory cache. */
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  readonly cacheTtlSeconds: number
  readonly shutdownTimeoutSeconds: number
  readonly logLevel: LogLevel.LogLevel
}

/** A variable read as text and checked by `parse`, which answers the value or what is wrong. */
const checked = <A>(name: string, parse: (raw: string) => Either.Either<A, string>) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) => Either.mapLeft(parse(raw), (problem) => ConfigError.InvalidData([], problem)))
  )

const wholeNumber =
  (min: number, max: number, what: string) =>
  (raw: string): Either.Either<number, string> => {
    const value = Number(raw.trim())
    return raw.trim() !== "" && Number.isInteger(value) && value >= min && value <= max
      ? Either.right(value)
      : Either.left(`must be ${what}, got ${JSON.stringify(raw)}`)
  }

/** A URL with one of `protocols`; the value is not repeated in the message: it may hold a password. */
const secretUrl = (name: string, protocols: ReadonlyArray<string>, example: string) =>
  Config.option(
    Config.map(
      checked(name, (raw) => {
        try {
          const url = new URL(raw)
          if (protocols.includes(url.protocol) && url.hostname !== "") return Either.right(raw)
        } catch {
          // reported below
        }
        return Either.left(
          `must be a URL such as ${example} (the value is not shown: it may hold a password)`
        )
      }),
      Redacted.make
    )
  )

const logLevels: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}

export const serverConfig = (service: Service): Config.Config<ServerConfig> =>
  Config.all({
    port: checked("PORT", wholeNumber(1, 65535, "a port number between 1 and 65535")).pipe(
      Config.withDefault(defaultPorts[service])
    ),
    host: checked("HOST", (raw) =>
      raw.trim() === ""
        ? Either.left("must be a host name or address, e.g. 0.0.0.0")
        : Either.right(raw.trim())
    ).pipe(Config.withDefault("0.0.0.0")),
    databaseUrl: secretUrl(
      "INV_DATABASE_URL",
      ["postgres:", "postgresql:"],
      "postgres://user:password@host:5432/db"
    ),
    home: Store.defaultDataDir,
    rabbitmqUrl: secretUrl("INV_RABBITMQ_URL", ["amqp:", "amqps:"], "amqp://user:password@host:5672"),
    redisUrl: secretUrl("INV_REDIS_URL", ["redis:", "rediss:"], "redis://host:6379"),
    cacheTtlSeconds: checked(
      "INV_CACHE_TTL",
      wholeNumber(0, 86_400, "a number of seconds from 0 to 86400")
    ).pipe(Config.withDefault(30)),
    shutdownTimeoutSeconds: checked(
      "INV_SHUTDOWN_TIMEOUT",
      wholeNumber(1, 3_600, "a number of seconds from 1 to 3600")
    ).pipe(Config.withDefault(10)),
    logLevel: checked("INV_LOG_LEVEL", (raw) => {
      const level = logLevels[raw.trim().toLowerCase()]
      return level
        ? Either.right(level)
        : Either.left(
            `must be one of trace, debug, info, warning, error, fatal, none, got ${JSON.stringify(raw)}`
          )
    }).pipe(Config.withDefault(LogLevel.Info))
  })

/** One line per problem, `NAME: what is wrong`, for the startup error. */
export const describeConfigError = (error: ConfigError.ConfigError): ReadonlyArray<string> =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left: ReadonlyArray<string>, right: ReadonlyArray<string>) => [...left, ...right],
    orCase: (_, left: ReadonlyArray<string>, right: ReadonlyArray<string>) => [...left, ...right],
    invalidDataCase: (_, path, message) => [`${path.join(".")}: ${message}`],
    missingDataCase: (_, path, message) => [`${path.join(".")}: ${message}`],
    sourceUnavailableCase: (_, path, message) => [`${path.join(".")}: ${message}`],
    unsupportedCase: (_, path, message) => [`${path.join(".")}: ${message}`]
  }).filter((line, index, lines) => lines.indexOf(line) === index)
