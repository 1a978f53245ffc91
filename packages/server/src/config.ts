/**
 * Server configuration, only from environment variables through Effect `Config`. Every invalid
 * value is reported by name with what is expected; secrets (URLs with credentials) are `Redacted`
 * and never echoed back.
 */
import { isAbsolute } from "node:path"
import { Store, type SupplierSync } from "@invkit/sdk"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
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
  /** The namespace of every Redis key; none means one derived from the database (infra/redis.ts). */
  readonly redisPrefix: Option.Option<string>
  readonly cacheTtlSeconds: number
  readonly shutdownTimeoutSeconds: number
  readonly logLevel: LogLevel.LogLevel
  /** A PostgreSQL read replica for stock-checker's reads; none means the primary. */
  readonly databaseReadUrl: Option.Option<Redacted.Redacted<string>>
  readonly auth: AuthConfig
  /** HTTPS when both are set: paths of the PEM certificate (chain) and private key. */
  readonly tls: Option.Option<{ readonly certFile: string; readonly keyFile: string }>
  readonly limits: LimitsConfig
  /** How long a consumer retries an event that keeps failing before it is dead-lettered. */
  readonly eventRetryTimeoutSeconds: number
  /** What supplier connectors may reach from the server: feed files and private addresses. */
  readonly feeds: SupplierSync.FeedRules
}

/** How the server verifies bearer tokens; `off` only when INV_AUTH=off says so. */
export type AuthConfig =
  | { readonly mode: "off" }
  | {
      readonly mode: "jwt"
      readonly key: JwtKey
      readonly audience: Option.Option<string>
      readonly issuer: Option.Option<string>
      readonly clockToleranceSeconds: number
    }

/** The one key (and so the one algorithm) tokens are verified with. */
export type JwtKey =
  | { readonly kind: "secret"; readonly algorithm: "HS256"; readonly secret: Redacted.Redacted<string> }
  | { readonly kind: "publicKey"; readonly algorithm: AsymmetricAlgorithm; readonly file: string }
  | { readonly kind: "jwks"; readonly algorithm: AsymmetricAlgorithm; readonly file: string }

export const asymmetricAlgorithms = ["RS256", "ES256"] as const
export type AsymmetricAlgorithm = (typeof asymmetricAlgorithms)[number]

export interface LimitsConfig {
  /** Request bodies larger than this are answered 413 before a handler runs. */
  readonly maxBodyBytes: number
  /** Requests per second per token (per client address with auth off); 0 turns the limit off. */
  readonly ratePerSecond: number
}

/**
 * Every variable the server reads (the standard OTEL_* variables are read by the tracing setup).
 * Deployment files are checked against this list, so a misspelt name fails a test, not a rollout.
 */
export const environmentVariables = [
  "PORT",
  "HOST",
  "INV_DATABASE_URL",
  "INV_DATABASE_READ_URL",
  "INV_DATABASE_PREPARE",
  "INV_HOME",
  "INV_RABBITMQ_URL",
  "INV_REDIS_URL",
  "INV_REDIS_PREFIX",
  "INV_CACHE_TTL",
  "INV_SHUTDOWN_TIMEOUT",
  "INV_LOG_LEVEL",
  "INV_AUTH",
  "INV_JWT_SECRET",
  "INV_JWT_PUBLIC_KEY_FILE",
  "INV_JWT_JWKS_FILE",
  "INV_JWT_ALGORITHM",
  "INV_JWT_AUDIENCE",
  "INV_JWT_ISSUER",
  "INV_JWT_CLOCK_TOLERANCE",
  "INV_TLS_CERT",
  "INV_TLS_KEY",
  "INV_MAX_BODY_BYTES",
  "INV_RATE_LIMIT",
  "INV_EVENT_RETRY_TIMEOUT",
  "INV_FEED_DIR",
  "INV_FEED_ALLOW_PRIVATE",
  // Read by supplier-sync's worker through the SDK (docs/suppliers.md).
  "INV_SYNC_MAX_ATTEMPTS",
  "INV_SYNC_RETRY_BASE_MS",
  "INV_SYNC_RETRY_MAX_MS"
] as const

/** A variable read as text and checked by `parse`, which answers the value or what is wrong. */
const checked = <A>(name: string, parse: (raw: string) => Either.Either<A, string>) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) => Either.mapLeft(parse(raw), (problem) => ConfigError.InvalidData([], problem)))
  )

/**
 * A whole number written in digits, as the API takes numbers: `1e6`, `5.0` and ` 30` are what
 * `Number` would read, not what a setting should be written as.
 */
const wholeNumber =
  (min: number, max: number, what: string) =>
  (raw: string): Either.Either<number, string> => {
    const value = Number(raw)
    return /^[0-9]{1,15}$/.test(raw) && value >= min && value <= max
      ? Either.right(value)
      : Either.left(`must be ${what}, written in digits, got ${JSON.stringify(raw)}`)
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

/** RabbitMQ, for the services and `inv-server events`; none means in-process events. */
export const rabbitmqUrl = secretUrl(
  "INV_RABBITMQ_URL",
  ["amqp:", "amqps:"],
  "amqp://user:password@host:5672"
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

const optionalText = (name: string) =>
  Config.option(
    checked(name, (raw) =>
      raw.trim() === "" ? Either.left("must not be empty; unset it instead") : Either.right(raw.trim())
    )
  )

export const MIN_SECRET_LENGTH = 32

const jwtKey: Config.Config<Option.Option<JwtKey>> = Config.all({
  secret: Config.option(Config.redacted("INV_JWT_SECRET")),
  publicKeyFile: optionalText("INV_JWT_PUBLIC_KEY_FILE"),
  jwksFile: optionalText("INV_JWT_JWKS_FILE"),
  algorithm: Config.option(
    checked("INV_JWT_ALGORITHM", (raw) =>
      (asymmetricAlgorithms as ReadonlyArray<string>).includes(raw.trim())
        ? Either.right(raw.trim() as AsymmetricAlgorithm)
        : Either.left(
            `must be RS256 or ES256 (HS256 is implied by INV_JWT_SECRET), got ${JSON.stringify(raw)}`
          )
    )
  )
}).pipe(
  Config.mapOrFail(({ secret, publicKeyFile, jwksFile, algorithm }) => {
    const given = [Option.isSome(secret), Option.isSome(publicKeyFile), Option.isSome(jwksFile)].filter(
      Boolean
    ).length
    if (given > 1) {
      return Either.left(
        ConfigError.InvalidData(
          ["INV_JWT_SECRET"],
          "set only one of INV_JWT_SECRET, INV_JWT_PUBLIC_KEY_FILE and INV_JWT_JWKS_FILE: the algorithm is pinned to one key"
        )
      )
    }
    if (Option.isSome(secret)) {
      if (Option.isSome(algorithm)) {
        return Either.left(
          ConfigError.InvalidData(
            ["INV_JWT_ALGORITHM"],
            "applies to INV_JWT_PUBLIC_KEY_FILE or INV_JWT_JWKS_FILE; a secret always means HS256"
          )
        )
      }
      return Redacted.value(secret.value).length < MIN_SECRET_LENGTH
        ? Either.left(
            ConfigError.InvalidData(
              ["INV_JWT_SECRET"],
              `must be at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -base64 48\`); the value is not shown`
            )
          )
        : Either.right(Option.some<JwtKey>({ kind: "secret", algorithm: "HS256", secret: secret.value }))
    }
    const asymmetric = Option.getOrElse(algorithm, (): AsymmetricAlgorithm => "RS256")
    if (Option.isSome(publicKeyFile)) {
      return Either.right(
        Option.some<JwtKey>({ kind: "publicKey", algorithm: asymmetric, file: publicKeyFile.value })
      )
    }
    if (Option.isSome(jwksFile)) {
      return Either.right(Option.some<JwtKey>({ kind: "jwks", algorithm: asymmetric, file: jwksFile.value }))
    }
    return Either.right(Option.none())
  })
)

const authConfig: Config.Config<AuthConfig> = Config.all({
  mode: checked("INV_AUTH", (raw) => {
    const mode = raw.trim().toLowerCase()
    return mode === "jwt" || mode === "off"
      ? Either.right(mode)
      : Either.left(`must be jwt (the default) or off, got ${JSON.stringify(raw)}`)
  }).pipe(Config.withDefault("jwt" as const)),
  key: jwtKey,
  audience: optionalText("INV_JWT_AUDIENCE"),
  issuer: optionalText("INV_JWT_ISSUER"),
  clockToleranceSeconds: checked(
    "INV_JWT_CLOCK_TOLERANCE",
    wholeNumber(0, 300, "a number of seconds from 0 to 300")
  ).pipe(Config.withDefault(30))
}).pipe(
  Config.mapOrFail(({ mode, key, ...checks }): Either.Either<AuthConfig, ConfigError.ConfigError> => {
    if (mode === "off") return Either.right({ mode: "off" })
    return Option.match(key, {
      onNone: () =>
        Either.left(
          ConfigError.InvalidData(
            ["INV_AUTH"],
            "requests must be authenticated: set INV_JWT_SECRET (HS256), INV_JWT_PUBLIC_KEY_FILE or INV_JWT_JWKS_FILE (RS256/ES256), or set INV_AUTH=off to serve without authentication"
          )
        ),
      onSome: (key) => Either.right({ mode: "jwt", key, ...checks })
    })
  })
)

const tlsConfig = Config.all({
  certFile: optionalText("INV_TLS_CERT"),
  keyFile: optionalText("INV_TLS_KEY")
}).pipe(
  Config.mapOrFail(({ certFile, keyFile }) =>
    Option.isSome(certFile) && Option.isSome(keyFile)
      ? Either.right(Option.some({ certFile: certFile.value, keyFile: keyFile.value }))
      : Option.isNone(certFile) && Option.isNone(keyFile)
        ? Either.right(Option.none())
        : Either.left(
            ConfigError.InvalidData(
              [Option.isSome(certFile) ? "INV_TLS_KEY" : "INV_TLS_CERT"],
              "HTTPS needs both INV_TLS_CERT and INV_TLS_KEY (paths of PEM files); set the missing one or unset both"
            )
          )
  )
)

const limitsConfig: Config.Config<LimitsConfig> = Config.all({
  maxBodyBytes: checked(
    "INV_MAX_BODY_BYTES",
    wholeNumber(1_024, 1_073_741_824, "a number of bytes from 1024 to 1073741824")
  ).pipe(Config.withDefault(4 * 1024 * 1024)),
  ratePerSecond: checked(
    "INV_RATE_LIMIT",
    wholeNumber(0, 1_000_000, "requests per second per token, from 0 (no limit) to 1000000")
  ).pipe(Config.withDefault(500))
})

/** Unset: a server reads no feed files, and fetches feeds only from public addresses. */
const feedsConfig: Config.Config<SupplierSync.FeedRules> = Config.all({
  files: Config.option(
    checked("INV_FEED_DIR", (raw) =>
      isAbsolute(raw.trim())
        ? Either.right(raw.trim())
        : Either.left(
            `must be an absolute path of the directory supplier CSV files may be read from, got ${JSON.stringify(raw)}`
          )
    )
  ).pipe(Config.map(Option.match({ onNone: () => "nowhere" as const, onSome: (under) => ({ under }) }))),
  privateAddresses: checked("INV_FEED_ALLOW_PRIVATE", (raw) => {
    const value = raw.trim().toLowerCase()
    return value === "true" || value === "false"
      ? Either.right(value === "true")
      : Either.left(`must be true or false, got ${JSON.stringify(raw)}`)
  }).pipe(Config.withDefault(false))
})

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
    rabbitmqUrl,
    redisUrl: secretUrl("INV_REDIS_URL", ["redis:", "rediss:"], "redis://host:6379"),
    redisPrefix: Config.option(
      checked("INV_REDIS_PREFIX", (raw) =>
        /^[A-Za-z0-9_.:-]{1,64}$/.test(raw)
          ? Either.right(raw)
          : Either.left(
              `must be 1 to 64 letters, digits or _ . : - naming this deployment (e.g. shop-eu), got ${JSON.stringify(raw)}; unset it to derive one from the database`
            )
      )
    ),
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
    }).pipe(Config.withDefault(LogLevel.Info)),
    databaseReadUrl: secretUrl(
      "INV_DATABASE_READ_URL",
      ["postgres:", "postgresql:"],
      "postgres://user:password@replica:5432/db"
    ),
    auth: authConfig,
    tls: tlsConfig,
    limits: limitsConfig,
    eventRetryTimeoutSeconds: checked(
      "INV_EVENT_RETRY_TIMEOUT",
      wholeNumber(1, 86_400, "a number of seconds from 1 to 86400")
    ).pipe(Config.withDefault(600)),
    feeds: feedsConfig
  }).pipe(
    // Read by the store itself as it opens; checked here too, so that a bad value stops the
    // server at startup with the others.
    Config.zipWith(Store.prepareStatements, (config) => config)
  )

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
