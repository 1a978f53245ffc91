import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import { PGlite } from "@electric-sql/pglite"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { JobsDatabase } from "./jobsDatabase.js"
import { startPglite } from "./pgliteStart.js"
import { CHECKPOINT_AFTER_BYTES, CHECKPOINT_DUE } from "./walCheckpoint.js"

/**
 * An Effect `SqlClient` over PGlite, the embedded store. @effect/sql has no PGlite client for
 * the Effect 3 line, so this is ours.
 *
 * PGlite is a single connection. Without coordination, a statement from one fiber could land in
 * the middle of another fiber's open transaction and be committed or rolled back with it. So a
 * one-permit semaphore guards the connection: a transaction holds the permit from BEGIN to
 * COMMIT, and a statement outside a transaction holds it for its own length.
 */
export interface PgliteClientOptions {
  /** Directory of the database; created (initdb) when missing. Undefined: in memory. */
  readonly dataDir: string | undefined
  readonly transformResultNames?: (name: string) => string
  readonly transformQueryNames?: (name: string) => string
}

/**
 * PostgreSQL's statement compiler: `$1` placeholders, double-quoted identifiers. It is
 * @effect/sql-pg's `makeCompiler` (without its `PgJson` fragment, which only PgClient's `json`
 * makes), written here because that module loads `pg` as it is imported, and the embedded store
 * needs none of it.
 */
const makeCompiler = (transform?: (name: string) => string): Statement.Compiler => {
  const quoted = Statement.defaultEscape('"')
  return Statement.makeCompiler({
    dialect: "pg",
    placeholder: (index) => `$${index}`,
    onIdentifier: transform
      ? (value, withoutTransform) => (withoutTransform ? quoted(value) : quoted(transform(value)))
      : quoted,
    onRecordUpdate: (placeholders, valueAlias, valueColumns, values, returning) => [
      `(values ${placeholders}) AS ${valueAlias}${valueColumns}${returning ? ` RETURNING ${returning[0]}` : ""}`,
      returning ? values.flat().concat(returning[1]) : values.flat()
    ],
    onCustom: () => {
      throw new Error("the embedded store compiles no custom SQL fragments")
    }
  })
}

/**
 * WAL kept for reuse after a checkpoint: PostgreSQL's default keeps up to 1 GB of recycled
 * segments, which PGlite holds in memory (in-memory store) or on disk, and reuses only when
 * written again. Two to four segments are enough for a store with no replicas and no archive.
 */
const WAL_KEPT = ["-c", "min_wal_size=32MB", "-c", "max_wal_size=64MB"]

/**
 * PGlite's buffer pool, for a store in a data directory. At PostgreSQL's default (128 MB) its
 * start touched all of it: an open took about 290 MB of memory against about 185 MB with 32 MB.
 * A page not in the pool is read from the operating system's file cache, which holds the store's
 * files either way. 16 MB took the peak of a 100,000-row import from 304–329 MB to 296–309 MB at
 * the same speed (its pages are written as they fill, whatever the pool). A store in memory keeps
 * the default: there a page outside the pool goes to PGlite's in-memory file system, whose writes
 * are slow (a 45 MB table took 30 s instead of 11).
 */
const FILE_BUFFERS = ["-c", "shared_buffers=16MB"]

const toSqlError = (message: string) => (cause: unknown) => new SqlError({ cause, message })

/**
 * PostgreSQL in single-user mode (PGlite) never starts a checkpoint on its own, so a store that
 * stays open (the store process, `inv-server all` embedded, an app) kept the WAL of every write
 * until it closed: on disk, or in memory for an in-memory store. It looks every
 * `CHECKPOINT_LOOK` and checkpoints once `CHECKPOINT_AFTER_BYTES` of WAL were written since the
 * last checkpoint (half of max_wal_size above, as PostgreSQL's checkpointer would).
 */
export const CHECKPOINT_LOOK: Duration.DurationInput = "30 seconds"

export const make = (options: PgliteClientOptions) =>
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: async () =>
          PGlite.create({
            ...(await startPglite()),
            ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
            startParams: [
              ...PGlite.defaultStartParams,
              ...WAL_KEPT,
              ...(options.dataDir === undefined ? [] : FILE_BUFFERS)
            ]
          }),
        catch: toSqlError(`Could not open the embedded database in ${options.dataDir ?? "memory"}`)
      }),
      (db) => Effect.promise(() => db.close())
    )
    const permit = yield* Effect.makeSemaphore(1)

    // Under the permit, so never inside a transaction; a failed look waits for the next one.
    const checkpointIfDue = permit.withPermits(1)(
      Effect.tryPromise(async () => {
        const { rows } = await db.query<{ due: boolean }>(CHECKPOINT_DUE, [CHECKPOINT_AFTER_BYTES])
        if (rows[0]?.due) await db.exec("checkpoint")
      })
    )
    yield* Effect.forkScoped(
      Effect.ignore(checkpointIfDue).pipe(Effect.delay(CHECKPOINT_LOOK), Effect.forever)
    )

    const query = (sql: string, params: ReadonlyArray<unknown>, rowMode: "object" | "array") =>
      Effect.tryPromise({
        try: () => db.query<any>(sql, params as Array<unknown>, { rowMode }),
        catch: toSqlError("Failed to execute statement")
      })

    const makeConnection = (guard: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) => {
      const execute = (
        sql: string,
        params: ReadonlyArray<unknown>,
        transformRows: (<A extends object>(rows: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
      ) =>
        guard(
          Effect.map(query(sql, params, "object"), (result) =>
            transformRows ? transformRows(result.rows) : result.rows
          )
        )
      const connection: Connection = {
        execute,
        executeRaw: (sql, params) => guard(query(sql, params, "object")),
        executeValues: (sql, params) =>
          guard(Effect.map(query(sql, params, "array"), (result) => result.rows as ReadonlyArray<any>)),
        executeUnprepared: (sql, params, transformRows) =>
          params.length > 0
            ? execute(sql, params, transformRows)
            : guard(
                Effect.tryPromise({
                  try: () => db.exec(sql),
                  catch: toSqlError("Failed to execute statement")
                }).pipe(
                  Effect.map((results) => {
                    const rows = (results.at(-1)?.rows ?? []) as ReadonlyArray<any>
                    return transformRows ? transformRows(rows) : rows
                  })
                )
              ),
        // PGlite answers a query whole, so a stream is the answer's rows.
        executeStream: (sql, params, transformRows) =>
          Stream.fromIterableEffect(execute(sql, params, transformRows))
      }
      return connection
    }

    const standalone = makeConnection(permit.withPermits(1))
    const inTransaction = makeConnection((effect) => effect)

    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const scope = yield* Effect.scope
        yield* restore(permit.take(1))
        yield* Scope.addFinalizer(scope, permit.release(1))
        return inTransaction
      })
    )

    const transformRows = options.transformResultNames
      ? Statement.defaultTransforms(options.transformResultNames).array
      : undefined

    const client = yield* SqlClient.make({
      acquirer: Effect.succeed(standalone),
      transactionAcquirer,
      compiler: makeCompiler(options.transformQueryNames),
      spanAttributes: [["db.system.name", "pglite"]],
      transformRows
    })

    /**
     * Raw SQL for other libraries (pg-boss) on the same database, under the same permit, so their
     * statements never land inside one of our transactions. Text without parameters may hold
     * several statements, as pg-boss sends them.
     */
    const executeSql = (text: string, values: ReadonlyArray<unknown> = []) =>
      permit.withPermits(1)(
        Effect.tryPromise({
          try: async () => {
            if (values.length > 0) return { rows: (await db.query<any>(text, values as Array<unknown>)).rows }
            const results = await db.exec(text)
            return { rows: (results.at(-1)?.rows ?? []) as Array<any> }
          },
          catch: toSqlError("Failed to execute statement")
        })
      )
    const copyFrom = (statement: string, text: string) =>
      permit.withPermits(1)(
        Effect.tryPromise({
          try: () => db.query(statement, [], { blob: new Blob([text]) }).then(() => {}),
          catch: toSqlError("Failed to copy rows")
        })
      )
    return { client, executeSql, copyFrom }
  })

export const layer = (options: PgliteClientOptions) =>
  Layer.scopedContext(
    Effect.map(make(options), ({ client, executeSql, copyFrom }) =>
      Context.make(SqlClient.SqlClient, client).pipe(
        Context.add(JobsDatabase, { _tag: "Embedded", executeSql, copyFrom })
      )
    )
  ).pipe(Layer.provide(Reactivity.layer))
