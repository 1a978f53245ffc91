/**
 * The PostgreSQL client of a store on PostgreSQL: @effect/sql-pg over a `pg` pool of its own.
 * Store.ts imports this module when it opens such a store, so an embedded open loads neither
 * (`pg` and its parsers are a good part of the SDK's start-up).
 */
import { createHash } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import { registerDirect, type SendDirectly } from "./directStatement.js"

export { PgClient }

// pg returns int8 (counts, sums, ids) as strings; every int8 here is far below 2^53.
const int8AsNumber: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format as any)) as any
}

export interface ClientConfig {
  readonly url: Redacted.Redacted<string>
  readonly applicationName: string
  /** How long a connection may take to open: unbounded unless given (the first: 5 seconds). */
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly transformResultNames?: ((name: string) => string) | undefined
  readonly transformQueryNames?: ((name: string) => string) | undefined
  /** Whether the hot statements go prepared (`Store.prepareStatements`). */
  readonly prepare: boolean
}

/**
 * A connection whose session the database ended (a FATAL error: the server shut down, or
 * `pg_terminate_backend`) is closed at once, so that the pool discards it when it comes back.
 * @effect/sql-pg gives a connection whose statement failed back to the pool without the error, and
 * pg notices a closed connection only once its socket closes: meanwhile the pool handed it to the
 * next caller waiting, whose statement then failed too. The listener runs before pg's own, and
 * so before the failed statement's caller hears of it and gives the connection back.
 */
const closeWhenSessionEnds = (client: pg.Client) => {
  const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection
  connection.prependListener("errorMessage", (message: { readonly severity?: string }) => {
    if (message.severity === "FATAL" || message.severity === "PANIC") client.end().catch(() => undefined)
  })
}

/** A pool with the store's conversions (int8 as numbers); it closes with the layer's scope. */
const pool = (config: ClientConfig) =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const pool = new pg.Pool({
        connectionString: Redacted.value(config.url),
        application_name: config.applicationName,
        types: int8AsNumber,
        // Each new connection, not only the first, gives up after it.
        ...(config.connectTimeout === undefined
          ? {}
          : { connectionTimeoutMillis: Duration.toMillis(config.connectTimeout) })
      })
      // An idle connection that fails is dropped by the pool; without a listener the error would
      // end the process.
      pool.on("error", () => undefined)
      pool.on("connect", closeWhenSessionEnds)
      // Opening fails early, with the reason, when the database cannot be reached.
      return Effect.tryPromise({
        try: () => pool.query("select 1"),
        catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
      }).pipe(
        Effect.timeoutFail({
          duration: config.connectTimeout ?? Duration.seconds(5),
          onTimeout: () =>
            new SqlError({
              cause: new Error("Connection timed out"),
              message: "PgClient: Connection timed out"
            })
        }),
        Effect.tapError(() => Effect.promise(() => pool.end().catch(() => undefined))),
        Effect.as(pool)
      )
    }),
    (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
  )

/**
 * The name a hot statement's text is prepared under: each connection parses and plans a named
 * statement once, then only binds and runs it. For a stock write's one statement, parsing and
 * planning were about half of PostgreSQL's work (docs/benchmarks-log.md, §1). The name is the text's
 * hash, so one name never stands for two texts (pg refuses that). Bounded: each connection keeps
 * every statement it prepared, so past `MAX_PREPARED` texts a new one goes unnamed.
 */
const preparedNameOf = (() => {
  const MAX_PREPARED = 64
  const names = new Map<string, string>()
  return (text: string): string | undefined => {
    let name = names.get(text)
    if (name === undefined && names.size < MAX_PREPARED) {
      name = `invkit_${createHash("sha256").update(text).digest("hex").slice(0, 32)}`
      names.set(text, name)
    }
    return name
  }
})()

/** What pg is given to run `text`: under its prepared name when preparing. */
const queryOf = (prepare: boolean, text: string, values: ReadonlyArray<unknown>): pg.QueryConfig => {
  const name = prepare ? preparedNameOf(text) : undefined
  return name === undefined
    ? { text, values: values as Array<unknown> }
    : { name, text, values: values as Array<unknown> }
}

/**
 * Whether `error` says that the connection holds no statement of that name, though pg thinks it
 * prepared it there: something dropped it (`DISCARD ALL`, `DEALLOCATE`, a pooler that moved the
 * session). Raised when binding, so nothing of the statement ran.
 */
const lostPrepared = (error: unknown) => error instanceof pg.DatabaseError && error.code === "26000"

/** Forgets that `client`'s connection holds the statement `name`: its next use prepares it again. */
const forgetPrepared = (client: pg.ClientBase, name: string) => {
  const connection = (client as unknown as { connection: { parsedStatements: Record<string, string> } })
    .connection
  delete connection.parsedStatements[name]
}

/**
 * Statements sent without @effect/sql's wrapping (internal/directStatement.ts), prepared unless
 * `prepare` is off. `alone`: on a connection of `pool`, outside any transaction, as @effect/sql-pg
 * runs one (the same errors; a connection that fails under it leaves the pool). Once sent, it is
 * decided whoever stops waiting: a write may commit. `onConnection`: on a transaction's connection,
 * the pg client @effect/sql-pg holds for it.
 */
const sendDirectly = (
  pool: pg.Pool,
  transformResultNames: ((name: string) => string) | undefined,
  prepare: boolean
): SendDirectly => {
  const transformRows = transformResultNames && Statement.defaultTransforms(transformResultNames).array
  const answer = <A extends object>(rows: ReadonlyArray<any>) =>
    (transformRows ? transformRows(rows as Array<A>) : rows) as ReadonlyArray<A>
  const failed = (cause: unknown) => new SqlError({ cause, message: "Failed to execute statement" })
  const alone = <A extends object>(statement: Statement.Statement<A>) =>
    Effect.async<ReadonlyArray<A>, SqlError>((resume) => {
      const [text, params] = statement.compile()
      pool.connect((error, client, release) => {
        if (error || client === undefined) {
          resume(Effect.fail(new SqlError({ cause: error, message: "Failed to acquire connection" })))
          return
        }
        let done = false
        const finish = (error: Error | undefined, rows?: ReadonlyArray<any>) => {
          if (done) return
          done = true
          client.off("error", onConnectionError)
          // A refusal of the database's leaves the connection usable; anything else may not.
          release(error instanceof pg.DatabaseError ? undefined : error)
          resume(error === undefined ? Effect.succeed(answer<A>(rows!)) : Effect.fail(failed(error)))
        }
        const onConnectionError = (error: Error) => finish(error)
        client.once("error", onConnectionError)
        const query = queryOf(prepare, text, params)
        const send = (again: boolean) =>
          client.query(query, (error, result) => {
            // Lost, the statement is prepared again, once: it failed before it ran.
            if (error && !again && query.name !== undefined && lostPrepared(error)) {
              forgetPrepared(client, query.name)
              return send(true)
            }
            finish(error ?? undefined, error ? undefined : result.rows)
          })
        send(false)
      })
    })
  const onConnection = <A extends object>(
    connection: Connection,
    text: string,
    params: ReadonlyArray<unknown>
  ): Effect.Effect<ReadonlyArray<A>, SqlError> => {
    // @effect/sql-pg's connection of a transaction keeps its pg client as `pg`.
    const client = (connection as { readonly pg?: pg.PoolClient }).pg
    if (client === undefined) return connection.execute(text, params, transformRows)
    return Effect.async((resume) => {
      const query = queryOf(prepare, text, params)
      client.query(query, (error, result) => {
        // The transaction is aborted by the failure; the next use on this connection prepares it again.
        if (error && query.name !== undefined && lostPrepared(error)) forgetPrepared(client, query.name)
        resume(error ? Effect.fail(failed(error)) : Effect.succeed(answer<A>(result.rows)))
      })
    })
  }
  return { alone, onConnection }
}

/**
 * A client on a pool of its own (pg's default of 10 connections), whose hot write statements may
 * go straight to that pool (internal/directStatement.ts).
 */
export const layer = (config: ClientConfig) =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const opened = yield* pool(config)
      const context = yield* Layer.build(
        PgClient.layerFromPool({
          acquire: Effect.succeed(opened),
          applicationName: config.applicationName,
          types: int8AsNumber,
          transformResultNames: config.transformResultNames,
          transformQueryNames: config.transformQueryNames
        })
      )
      registerDirect(
        Context.get(context, SqlClient.SqlClient),
        sendDirectly(opened, config.transformResultNames, config.prepare)
      )
      return context
    })
  )
