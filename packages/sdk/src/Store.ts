/**
 * Where the data lives: one SQL dialect (PostgreSQL), two places for it.
 *
 * - embedded (default): PGlite, PostgreSQL compiled to WASM, in a local data directory;
 * - direct: a PostgreSQL server, through @effect/sql-pg, when a database URL is given.
 *
 * Opening a store runs the migrations, so a fresh directory or database is ready to use.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import type * as Stream from "effect/Stream"
import * as Str from "effect/String"
import { InvalidInput, StoreError } from "./InventoryError.js"
import * as DataDir from "./internal/dataDir.js"
import { JobsDatabase } from "./internal/jobsDatabase.js"
import { runMigrations } from "./internal/migrations.js"
import { announcingCommits } from "./internal/outbox.js"
import * as PgliteClient from "./internal/pgliteClient.js"
import { startPglite } from "./internal/pgliteStart.js"
import type * as PostgresClient from "./internal/postgresClient.js"
import * as Target from "./Target.js"

export type StoreOptions =
  | {
      readonly _tag: "Embedded"
      readonly dataDir: string | undefined
      readonly options?: DataDirOptions | undefined
    }
  | {
      readonly _tag: "Postgres"
      readonly url: Redacted.Redacted<string>
      /** Whether the hot statements go prepared; unset, `INV_DATABASE_PREPARE` says (`prepareStatements`). */
      readonly prepare?: boolean | undefined
    }

/** Who holds the data directory, how long to wait for another holder, where notices go. */
export type DataDirOptions = DataDir.DataDirOptions

/** The embedded store in `dataDir`; `undefined` keeps it in memory (tests, throwaway runs). */
export const embedded = (dataDir: string | undefined, options?: DataDirOptions): StoreOptions => ({
  _tag: "Embedded",
  dataDir,
  options
})

/**
 * Holds an embedded data directory for the scope (checked, private, locked; see docs/configuration.md),
 * for a process that runs PGlite itself, as the server does in a worker thread.
 */
export const openDataDir = DataDir.open

/**
 * For a directory from before the marker file: the query that answers `found` if it holds an
 * inventory, and what to say if it does not.
 */
export const { inventoryCheck, notAnInventory } = DataDir

export const postgres = (
  url: string | Redacted.Redacted<string>,
  options: { readonly prepare?: boolean | undefined } = {}
): StoreOptions => ({
  _tag: "Postgres",
  url: Redacted.isRedacted(url) ? url : Redacted.make(url),
  prepare: options.prepare
})

/** @effect/sql-pg and pg, loaded when a store on PostgreSQL opens: an embedded open needs neither. */
const postgresClient: Effect.Effect<typeof PostgresClient> = Effect.promise(
  () => import("./internal/postgresClient.js")
)

const PREPARE_RULE = "must be true or false (false for a connection pooler that drops prepared statements)"

/**
 * Whether a store on PostgreSQL sends its hot statements prepared: each connection then parses and
 * plans a stock write's statement once, not on every write (internal/postgresClient.ts). On unless
 * `INV_DATABASE_PREPARE=false`, for a connection pooler that does not keep a session's prepared
 * statements (PgBouncer in transaction mode before 1.21, or without `max_prepared_statements`).
 */
export const prepareStatements: Config.Config<boolean> = Config.string("INV_DATABASE_PREPARE").pipe(
  Config.mapOrFail((raw) => {
    const value = raw.trim().toLowerCase()
    return value === "true" || value === "false"
      ? Either.right(value === "true")
      : Either.left(ConfigError.InvalidData([], `${PREPARE_RULE}, got ${JSON.stringify(raw)}`))
  }),
  Config.withDefault(true)
)

/** `prepareStatements`, an invalid value refused as input that names the variable. */
const preparing = Effect.mapError(
  prepareStatements,
  (error) =>
    new InvalidInput({
      field: "INV_DATABASE_PREPARE",
      rule: ConfigError.isInvalidData(error) ? error.message : PREPARE_RULE
    })
)

/**
 * A PostgreSQL client layer, its modules loaded as it is built; its hot statements prepared as
 * `prepare` says, else as `INV_DATABASE_PREPARE` does.
 */
const postgresLayer = (
  config: Omit<Parameters<typeof PostgresClient.layer>[0], "prepare">,
  prepare?: boolean | undefined
) =>
  Layer.unwrapEffect(
    Effect.zipWith(
      postgresClient,
      prepare === undefined ? preparing : Effect.succeed(prepare),
      (loaded, prepare) => loaded.layer({ ...config, prepare })
    )
  )

/**
 * The notifications PostgreSQL sends on `channel` (`LISTEN`, on a connection of their own), for a
 * process that wants to wake when others commit; none on a store opened otherwise.
 */
export const listen = (channel: string): Effect.Effect<Option.Option<Stream.Stream<string, SqlError>>> =>
  Effect.flatMap(postgresClient, ({ PgClient }) =>
    Effect.map(
      Effect.serviceOption(PgClient.PgClient),
      Option.map((client) => client.listen(channel))
    )
  )

/** The channel a store on PostgreSQL notifies after a commit that wrote events, for relays to `listen` on. */
export const EVENTS_CHANNEL = "invkit_outbox"

/**
 * What a store does after each COMMIT that wrote outbox events (never inside the transaction).
 * Unset, a store on PostgreSQL sends a standalone `NOTIFY invkit_outbox` (`EVENTS_CHANNEL`), one
 * at a time per process and at most one per 50 ms: commits made meanwhile are announced by one
 * more after it.
 * So a relay in another process (the services') publishes a CLI's or an app's change at once. A
 * process that runs the relay itself sets `wake` to wake it in-process: no round trip, and no
 * notifying transaction (PostgreSQL serialises those commits; see docs/benchmarks-log.md).
 */
export class EventsCommitted extends Context.Reference<EventsCommitted>()(
  "@invkit/sdk/Store/EventsCommitted",
  {
    defaultValue: (): { readonly wake: Effect.Effect<void> | undefined } => ({ wake: undefined })
  }
) {}

/** Stores built under this layer call `wake` after each commit that wrote events, instead of notifying. */
export const wakeOnEventsCommitted = (wake: Effect.Effect<void>): Layer.Layer<never> =>
  Layer.succeedContext(Context.make(EventsCommitted, { wake }))

/** The least time between two NOTIFYs of one process: the longest an announcement is held back. */
const NOTIFY_SPACING = "50 millis"

/**
 * One standalone NOTIFY at a time, and then a pause of `NOTIFY_SPACING`: a queue of one signal
 * folds the commits made meanwhile into the next. The first commit after a quiet spell is announced
 * at once; a process that commits thousands of times a second (an app, a benchmark) sends at most
 * 20 NOTIFYs a second, each its own small transaction, instead of doubling its commits. Closing the
 * store sends the one still owed, so a CLI command that writes and exits at once is not left to the
 * relay's next look.
 */
const notifyRelays = (sql: SqlClient.SqlClient) =>
  Effect.gen(function* () {
    const committed = yield* Queue.dropping<void>(1)
    // Commits announced, and how many of them the last NOTIFY that went through covered.
    let announced = 0
    let notified = 0
    const notify = Effect.suspend(() => {
      const covers = announced
      // With a payload: @effect/sql-pg's listen drops notifications that carry none.
      return sql.unsafe(`notify ${EVENTS_CHANNEL}, 'committed'`).pipe(
        Effect.tap(() => {
          notified = Math.max(notified, covers)
        }),
        // A lost notification costs latency, not events: the relay looks on its own every second.
        Effect.catchAllCause((cause) => Effect.logDebug("could not notify the outbox relay", cause))
      )
    })
    const worker = yield* Queue.take(committed).pipe(
      Effect.zipRight(notify),
      Effect.zipRight(Effect.sleep(NOTIFY_SPACING)),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        Fiber.interrupt(worker),
        Effect.suspend(() => (announced > notified ? Effect.timeout(notify, "2 seconds") : Effect.void))
      ).pipe(Effect.ignore)
    )
    return Effect.sync(() => {
      announced += 1
      // Offered without an effect of its own (one per commit); a signal already waiting covers this commit too.
      Queue.unsafeOffer(committed, undefined)
    })
  })

/** The store's client, announcing its commits that wrote events (see `EventsCommitted`). */
const announcing = <A, E>(base: Layer.Layer<A, E>, postgres: boolean): Layer.Layer<A, E> =>
  Layer.flatMap(base, (context) =>
    Layer.scopedContext(
      Effect.gen(function* () {
        const sql = Context.unsafeGet(context, SqlClient.SqlClient)
        const { wake } = yield* EventsCommitted
        // No relay listens on the embedded store (one PGlite session): its own process wakes it.
        const announce = wake ?? (postgres ? yield* notifyRelays(sql) : undefined)
        return announce === undefined
          ? context
          : Context.add(context, SqlClient.SqlClient, announcingCommits(sql, announce))
      })
    )
  )

/** A database URL must say postgres:// and name a host, or nothing is attempted. */
export const checkDatabaseUrl = (url: string): InvalidInput | undefined => {
  try {
    const parsed = new URL(url)
    if ((parsed.protocol === "postgres:" || parsed.protocol === "postgresql:") && parsed.hostname !== "")
      return undefined
  } catch {
    // reported below
  }
  return new InvalidInput({
    field: "databaseUrl",
    rule: "must be a PostgreSQL URL such as postgres://user:password@host:5432/database"
  })
}

/** `$INV_HOME`, else the XDG data directory: `$XDG_DATA_HOME/inv` or `~/.local/share/inv`. */
export const defaultDataDir: Config.Config<string> = Config.map(
  Config.all({
    INV_HOME: Config.option(Config.string("INV_HOME")),
    XDG_DATA_HOME: Config.option(Config.string("XDG_DATA_HOME"))
  }),
  ({ INV_HOME, XDG_DATA_HOME }) =>
    Target.defaultDataDir({
      INV_HOME: Option.getOrUndefined(INV_HOME),
      XDG_DATA_HOME: Option.getOrUndefined(XDG_DATA_HOME)
    })
)

/** `INV_DATABASE_URL` picks PostgreSQL; otherwise the embedded store in the default data directory. */
export const fromEnvironment: Config.Config<StoreOptions> = Config.all({
  url: Config.option(Config.redacted("INV_DATABASE_URL")),
  dataDir: defaultDataDir
}).pipe(
  Config.map(
    ({ url, dataDir }): StoreOptions =>
      Option.match(url, {
        onNone: () => embedded(dataDir),
        onSome: (url) => ({ _tag: "Postgres", url })
      })
  )
)

export const describe = (options: StoreOptions): string =>
  options._tag === "Embedded"
    ? `embedded store in ${options.dataDir ?? "memory"}`
    : `PostgreSQL at ${safeUrl(Redacted.value(options.url))}`

/** A URL without its password, for messages and logs. */
export const safeUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(unparseable URL)"
  }
}

/**
 * `rename` remembered per name: every row of every result has each of its column names renamed,
 * and they are few (those of the statements, and the keys of the JSON the store writes), so a
 * lookup replaces rebuilding the same string char by char. Bounded: past `MAX_NAMES` it starts over.
 */
const rememberedNames = (rename: (name: string) => string) => {
  const MAX_NAMES = 4096
  const known = new Map<string, string>()
  return (name: string) => {
    let renamed = known.get(name)
    if (renamed === undefined) {
      if (known.size >= MAX_NAMES) known.clear()
      renamed = rename(name)
      known.set(name, renamed)
    }
    return renamed
  }
}

const names = {
  transformResultNames: rememberedNames(Str.snakeToCamel),
  transformQueryNames: rememberedNames(Str.camelToSnake)
}

/** A directory opened without the marker is adopted only if it holds an inventory. */
const confirmStore = (dataDir: DataDir.DataDir, shown: string) =>
  Effect.gen(function* () {
    // PGlite writes its first files world-readable whatever the umask.
    yield* dataDir.tighten
    if (!dataDir.unmarked) return
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql.unsafe<{ found: boolean }>(DataDir.inventoryCheck)
    if (!row?.found) {
      return yield* new InvalidInput({ field: "dataDir", rule: DataDir.notAnInventory(shown) })
    }
    yield* dataDir.mark
  })

const client = (
  options: StoreOptions
): Layer.Layer<SqlClient.SqlClient | JobsDatabase, StoreError | InvalidInput> => {
  const invalidUrl = options._tag === "Postgres" ? checkDatabaseUrl(Redacted.value(options.url)) : undefined
  if (invalidUrl) return Layer.fail(invalidUrl)
  const layer =
    options._tag === "Postgres"
      ? Layer.merge(
          postgresLayer({ url: options.url, applicationName: "invkit", ...names }, options.prepare),
          Layer.succeed(JobsDatabase, { _tag: "Postgres", url: options.url })
        )
      : options.dataDir === undefined
        ? PgliteClient.layer({ dataDir: undefined, ...names })
        : Layer.unwrapScoped(
            // PGlite's WASM compiles meanwhile, while the directory is checked and locked.
            Effect.map(
              Effect.zipRight(Effect.sync(startPglite), DataDir.open(options.dataDir, options.options)),
              (dataDir) =>
                Layer.effectDiscard(confirmStore(dataDir, options.dataDir!)).pipe(
                  Layer.provideMerge(PgliteClient.layer({ dataDir: dataDir.path, ...names }))
                )
            )
          )
  return announcing(layer, options._tag === "Postgres").pipe(
    Layer.mapError((error) =>
      error instanceof StoreError || error instanceof InvalidInput
        ? error
        : new StoreError({ reason: `cannot open the ${describe(options)}: ${causeMessage(error)}` })
    )
  )
}

const causeMessage = (error: { readonly message: string; readonly cause?: unknown }) =>
  error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message

/**
 * A client for reads only, on a PostgreSQL read replica: the same conversions as the store's own
 * client, and no migrations (a replica takes its schema from the primary).
 */
export const readClient = (url: Redacted.Redacted<string>): Layer.Layer<SqlClient.SqlClient, StoreError> =>
  postgresLayer({
    url,
    applicationName: "invkit-read",
    // A replica that does not answer is skipped for the primary: find out soon.
    connectTimeout: "2 seconds",
    ...names
  }).pipe(
    Layer.mapError(
      (error) =>
        new StoreError({
          reason: `cannot open the read replica at ${safeUrl(Redacted.value(url))}: ${causeMessage(error)}`
        })
    )
  )

/** An open, migrated store. */
export const layer = (
  options: StoreOptions
): Layer.Layer<SqlClient.SqlClient | JobsDatabase, StoreError | InvalidInput> =>
  Layer.effectDiscard(
    runMigrations.pipe(
      Effect.mapError((error) => new StoreError({ reason: `migrations failed: ${error.message}` }))
    )
  ).pipe(Layer.provideMerge(client(options)))
