/**
 * A hot write statement sent without @effect/sql's wrapping of it when nothing traces it (its
 * `sql.execute` span would be dropped anyway). @effect/sql sends each statement through a span, a
 * scope, a connection acquirer and an asynchronous callback of its own; that wrapping was about
 * half of an unkeyed adjustment's CPU outside the database (docs/benchmarks-log.md, §1). Outside any
 * transaction the statement goes straight to the store's `pg` pool and commits on its own; inside
 * one, on the transaction's connection (the one @effect/sql holds for the transaction, so the
 * statement is part of it). Sent so, it goes prepared (internal/postgresClient.ts). Traced, it runs
 * as it is, through @effect/sql.
 *
 * Only a store on PostgreSQL registers a way to send directly (internal/postgresClient.ts); this
 * module holds no `pg` of its own, so an embedded open loads none.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"

export interface SendDirectly {
  /** Runs a statement outside any transaction; answers its rows, transformed as the client's. */
  readonly alone: <A extends object>(
    statement: Statement.Statement<A>
  ) => Effect.Effect<ReadonlyArray<A>, SqlError>
  /** Runs a compiled statement on `connection`, an open transaction's: it is part of that transaction. */
  readonly onConnection: <A extends object>(
    connection: Connection,
    text: string,
    params: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<A>, SqlError>
}

/** The clients that may send directly: the store's client, and the copies made of it (outbox.ts). */
const senders = new WeakMap<SqlClient.SqlClient, SendDirectly>()

/** Lets `sql`'s hot statements go straight to its pool (`direct`). */
export const registerDirect = (sql: SqlClient.SqlClient, direct: SendDirectly): void => {
  senders.set(sql, direct)
}

/** A copy of `from` (a client that wraps it) sends directly as `from` does. */
export const inheritDirect = (from: SqlClient.SqlClient, to: SqlClient.SqlClient): void => {
  const direct = senders.get(from)
  if (direct !== undefined) senders.set(to, direct)
}

/** The connection of the transaction open in `context`, if any: a statement sent on it is part of it. */
export const transactionIn = (context: Context.Context<never>): Connection | undefined => {
  const open = Context.getOption(context, SqlClient.TransactionConnection)
  return open._tag === "Some" ? open.value[0] : undefined
}

/**
 * How `sql` runs a hot statement: directly when it can (see above), else as the statement itself.
 * Decided on each run: the same write goes alone or inside a group's transaction.
 */
export const sender = (sql: SqlClient.SqlClient) => {
  const direct = senders.get(sql)
  if (direct === undefined) return <A extends object>(statement: Statement.Statement<A>) => statement
  return <A extends object>(statement: Statement.Statement<A>): Effect.Effect<ReadonlyArray<A>, SqlError> =>
    Effect.withFiberRuntime((fiber) => {
      if (fiber.getFiberRef(FiberRef.currentTracerEnabled)) return statement
      const transaction = transactionIn(fiber.currentContext)
      if (transaction === undefined) return direct.alone(statement)
      const [text, params] = statement.compile()
      return direct.onConnection<A>(transaction, text, params)
    })
}
