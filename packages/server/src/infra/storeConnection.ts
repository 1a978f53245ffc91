/**
 * The inventory store as a long-running process holds it: opened in the background and retried
 * until it answers, so the process starts, reports `/ready` 503 naming the database, and serves
 * as soon as the database is reachable, instead of crash-looping while PostgreSQL starts.
 * Background work (relay, consumers, the sync worker) starts once the store is open.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqlClientTag from "@effect/sql/SqlClient"
import { Inventory, Stock, Store, StoreError, SupplierSync, type SyncJobs } from "@invkit/sdk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"

/** What an open store provides: the SDK's services, its SqlClient, and (if asked for) the job queue. */
export type Opened = Inventory.Services | SqlClient.SqlClient | SyncJobs.SyncJobs

export class StoreConnection extends Context.Tag("@invkit/server/StoreConnection")<
  StoreConnection,
  {
    /** The open store's services; a StoreError (503) while it is not open yet. */
    readonly context: Effect.Effect<Context.Context<Opened>, StoreError>
    /** Whether the database answers now, for /ready. */
    readonly ready: Effect.Effect<boolean>
  }
>() {}

/** Runs an SDK call against the open store. */
export const withStore = <A, E>(
  effect: Effect.Effect<A, E, Opened>
): Effect.Effect<A, E | StoreError, StoreConnection> =>
  Effect.flatMap(StoreConnection, (connection) =>
    Effect.flatMap(connection.context, (context) => Effect.provide(effect, context))
  )

/**
 * Runs `use` with one service of the open store, taken from its context rather than provided to
 * `use`: the SDK's services need nothing from the context once built, and providing the store's
 * context costs every request a merge of it and a fiber-local change (some 20 Effect operations).
 * For stock-updater's hot paths: the stock and reservation writes.
 */
export const withStoreService = <I extends Opened, S, A, E>(
  tag: Context.Tag<I, S>,
  use: (service: S) => Effect.Effect<A, E>
): Effect.Effect<A, E | StoreError, StoreConnection> =>
  Effect.flatMap(StoreConnection, (connection) =>
    Effect.flatMap(connection.context, (context) => use(Context.get(context, tag)))
  )

const READY_TIMEOUT = "2 seconds"

export interface StoreConnectionOptions {
  readonly store: Store.StoreOptions
  /**
   * Whether to start the job queue (pg-boss) too: only supplier-sync queues and works syncs.
   * Without it `SyncJobs` is absent from the context, and nothing in that process asks for it.
   */
  readonly jobs: boolean
  /** What supplier connectors may reach from this process. */
  readonly feeds: SupplierSync.FeedRules
  /**
   * Called after each commit that wrote events, when this process runs the relay (it wakes it);
   * absent, the store notifies relays elsewhere (`Store.EventsCommitted`).
   */
  readonly eventsCommitted?: Effect.Effect<void> | undefined
  /** Started once the store is open, for the rest of the process's life. */
  readonly onOpen: (context: Context.Context<Opened>) => Effect.Effect<void, never, Scope.Scope>
}

export const layer = (options: StoreConnectionOptions): Layer.Layer<StoreConnection> =>
  Layer.scoped(
    StoreConnection,
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const opened = yield* Ref.make(Option.none<Context.Context<Opened>>())
      const problem = yield* Ref.make("the store is still opening")
      const firstAttempt = yield* Deferred.make<void>()

      const services = (
        options.jobs
          ? Inventory.jobsLayer.pipe(Layer.provideMerge(Inventory.layer(options.store)))
          : Inventory.layer(options.store)
      ).pipe(
        Layer.provide(Layer.succeed(SupplierSync.FeedAccess, options.feeds)),
        // Many requests write at once here: they share transactions (group commit).
        Layer.provide(Stock.groupCommit()),
        Layer.provide(
          options.eventsCommitted === undefined
            ? Layer.empty
            : Store.wakeOnEventsCommitted(options.eventsCommitted)
        )
      ) as Layer.Layer<Opened, StoreError | import("@invkit/sdk").InvalidInput>

      const attempt = Effect.gen(function* () {
        const attemptScope = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        const context = yield* Layer.buildWithScope(services, attemptScope).pipe(
          Effect.tapError(() => Scope.close(attemptScope, Exit.void))
        )
        yield* Ref.set(opened, Option.some(context))
        yield* Effect.logInfo("inventory store open")
        yield* Effect.forkIn(options.onOpen(context).pipe(Scope.extend(attemptScope)), attemptScope)
      }).pipe(
        Effect.tapError((error) =>
          Effect.zipRight(
            Ref.set(problem, error.message),
            Effect.logWarning(`cannot open the inventory store, retrying: ${error.message}`)
          )
        ),
        Effect.ensuring(Deferred.succeed(firstAttempt, undefined))
      )

      yield* attempt.pipe(
        Effect.retry(Schedule.exponential("250 millis").pipe(Schedule.either(Schedule.spaced("5 seconds")))),
        Effect.ignore,
        Effect.forkScoped
      )
      // Serve at once if the store opens at the first try; otherwise start anyway and keep trying.
      yield* Deferred.await(firstAttempt)

      return {
        context: Effect.flatMap(Ref.get(opened), (context) =>
          Option.match(context, {
            onSome: Effect.succeed,
            onNone: () =>
              Effect.flatMap(Ref.get(problem), (reason) =>
                Effect.fail(new StoreError({ reason: `not open yet: ${reason}` }))
              )
          })
        ),
        ready: Effect.flatMap(Ref.get(opened), (context) =>
          Option.match(context, {
            onNone: () => Effect.succeed(false),
            onSome: (context) =>
              Effect.flatMap(SqlClientTag.SqlClient, (sql) => sql`select 1`).pipe(
                Effect.provide(context),
                Effect.timeout(READY_TIMEOUT),
                Effect.as(true),
                Effect.orElseSucceed(() => false)
              )
          })
        )
      }
    })
  )
