/**
 * Where the data lives: one SQL dialect (PostgreSQL), two places for it.
 *
 * - embedded (default): PGlite, PostgreSQL compiled to WASM, in a local data directory;
 * - direct: a PostgreSQL server, through @effect/sql-pg, when a database URL is given.
 *
 * Opening a store runs the migrations, so a fresh directory or database is ready to use.
 */

import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { join } from "node:path"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Str from "effect/String"
import pg from "pg"
import { InvalidInput, StoreError } from "./InventoryError.js"
import { JobsDatabase } from "./internal/jobsDatabase.js"
import { runMigrations } from "./internal/migrations.js"
import * as PgliteClient from "./internal/pgliteClient.js"

export type StoreOptions =
  | { readonly _tag: "Embedded"; readonly dataDir: string | undefined }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }

/** The embedded store in `dataDir`; `undefined` keeps it in memory (tests, throwaway runs). */
export const embedded = (dataDir: string | undefined): StoreOptions => ({ _tag: "Embedded", dataDir })

export const postgres = (url: string | Redacted.Redacted<string>): StoreOptions => ({
  _tag: "Postgres",
  url: Redacted.isRedacted(url) ? url : Redacted.make(url)
})

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
export const defaultDataDir: Config.Config<string> = Config.string("INV_HOME").pipe(
  Config.orElse(() => Config.map(Config.string("XDG_DATA_HOME"), (dir) => join(dir, "inv"))),
  Config.orElse(() => Config.succeed(join(homedir(), ".local", "share", "inv")))
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

// pg returns int8 (counts, sums, ids) as strings; every int8 here is far below 2^53.
const int8AsNumber: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format as any)) as any
}

const names = { transformResultNames: Str.snakeToCamel, transformQueryNames: Str.camelToSnake }

const client = (
  options: StoreOptions
): Layer.Layer<SqlClient.SqlClient | JobsDatabase, StoreError | InvalidInput> => {
  const invalidUrl = options._tag === "Postgres" ? checkDatabaseUrl(Redacted.value(options.url)) : undefined
  if (invalidUrl) return Layer.fail(invalidUrl)
  const layer =
    options._tag === "Postgres"
      ? Layer.merge(
          PgClient.layer({ url: options.url, types: int8AsNumber, applicationName: "invkit", ...names }),
          Layer.succeed(JobsDatabase, { _tag: "Postgres", url: options.url })
        )
      : Layer.unwrapScoped(
          Effect.gen(function* () {
            if (options.dataDir !== undefined) yield* lockDataDir(options.dataDir)
            return PgliteClient.layer({ dataDir: options.dataDir, ...names })
          })
        )
  return layer.pipe(
    Layer.mapError((error) =>
      error instanceof StoreError
        ? error
        : new StoreError({ reason: `cannot open the ${describe(options)}: ${causeMessage(error)}` })
    )
  )
}

/**
 * PGlite's files take one process at a time; a second one would fail obscurely or corrupt them.
 * A lock file with the owner's pid turns that into a clear error; a dead owner's lock is taken over.
 */
export const lockDataDir = (dataDir: string): Effect.Effect<string, StoreError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      mkdirSync(dataDir, { recursive: true })
      const lockFile = join(dataDir, "inv.lock")
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          writeFileSync(lockFile, String(process.pid), { flag: "wx" })
          return Effect.succeed(lockFile)
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
            return Effect.fail(
              new StoreError({ reason: `cannot use ${dataDir}: ${(error as Error).message}` })
            )
          }
          const owner = Number(readFileSync(lockFile, "utf8"))
          if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
            return Effect.fail(
              new StoreError({
                reason: `the embedded store in ${dataDir} is in use by process ${owner} (an inv supplier worker or inv-server?). Stop it first, or share the data through PostgreSQL (INV_DATABASE_URL).`
              })
            )
          }
          rmSync(lockFile, { force: true })
        }
      }
      return Effect.fail(new StoreError({ reason: `cannot lock ${dataDir}` }))
    }),
    (lockFile) => Effect.sync(() => rmSync(lockFile, { force: true }))
  )

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
}

const causeMessage = (error: { readonly message: string; readonly cause?: unknown }) =>
  error.cause instanceof Error ? `${error.message} (${error.cause.message})` : error.message

/**
 * A client for reads only, on a PostgreSQL read replica: the same conversions as the store's own
 * client, and no migrations (a replica takes its schema from the primary).
 */
export const readClient = (url: Redacted.Redacted<string>): Layer.Layer<SqlClient.SqlClient, StoreError> =>
  PgClient.layer({
    url,
    types: int8AsNumber,
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
