/**
 * Where stock-checker's reads go: a PostgreSQL read replica when INV_DATABASE_READ_URL is set,
 * else the primary. Writes and the consumers' work never come here; they always use the primary.
 *
 * A replica that does not answer (not reachable at startup, down later, or slower than
 * READ_TIMEOUT) never fails a read: the read goes to the primary, and the switch is logged once
 * as a warning (and its end once as info), not per request. Only "not answering" falls back;
 * an answer from the replica, including "not found", stands: a replica lags the primary, see
 * docs/operations.md.
 */
import { Stock, Store, StoreError } from "@invkit/sdk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { type StoreConnection, withStore } from "./storeConnection.js"

/** The longest a read may wait for the replica before it is asked of the primary instead. */
const READ_TIMEOUT = "2 seconds"

export class StockReads extends Context.Tag("@invkit/server/StockReads")<
  StockReads,
  {
    /** Runs a read on the replica, or on the primary when there is none or it does not answer. */
    readonly read: <A, E>(
      use: (stock: Stock.Stock) => Effect.Effect<A, E>
    ) => Effect.Effect<A, E | StoreError, StoreConnection>
  }
>() {}

const onPrimary = <A, E>(use: (stock: Stock.Stock) => Effect.Effect<A, E>) =>
  withStore(Effect.flatMap(Stock.Stock, use))

/** Every read on the primary. */
export const primaryOnly: Layer.Layer<StockReads> = Layer.succeed(StockReads, { read: onPrimary })

const isStoreError = (error: unknown): error is StoreError => error instanceof StoreError

export const layer = (readUrl: Option.Option<Redacted.Redacted<string>>): Layer.Layer<StockReads> =>
  Option.match(readUrl, {
    onNone: () => primaryOnly,
    onSome: (url) =>
      Layer.scoped(
        StockReads,
        Effect.gen(function* () {
          const replica = yield* Ref.make(Option.none<Context.Context<Stock.Stock>>())
          // Whether reads are falling back now: the warning is written when it starts, not per read.
          const fallingBack = yield* Ref.make(false)
          const fallBack = (reason: string) =>
            Effect.flatMap(Ref.getAndSet(fallingBack, true), (already) =>
              already
                ? Effect.void
                : Effect.logWarning(
                    `read replica not answering (${reason}); stock reads go to the primary until it answers`
                  )
            )
          const recovered = Effect.flatMap(Ref.getAndSet(fallingBack, false), (was) =>
            was ? Effect.logInfo("read replica answering again; stock reads go to it") : Effect.void
          )

          // Opened in the background, retried until it answers: a replica that is down at
          // startup must not keep stock-checker from serving.
          const scope = yield* Effect.scope
          yield* Layer.buildWithScope(
            Stock.Stock.Default.pipe(Layer.provide(Store.readClient(url))),
            scope
          ).pipe(
            Effect.tapError((error) => fallBack(error.reason)),
            Effect.retry(
              Schedule.exponential("500 millis").pipe(Schedule.union(Schedule.spaced("10 seconds")))
            ),
            Effect.tap((context) => Ref.set(replica, Option.some(context))),
            Effect.tap(() => Effect.logInfo("stock reads go to the read replica (INV_DATABASE_READ_URL)")),
            Effect.forkScoped
          )

          const read = <A, E>(
            use: (stock: Stock.Stock) => Effect.Effect<A, E>
          ): Effect.Effect<A, E | StoreError, StoreConnection> =>
            Effect.flatMap(Ref.get(replica), (context) =>
              Option.match(context, {
                onNone: () => onPrimary(use),
                onSome: (context) =>
                  Effect.flatMap(Stock.Stock, use).pipe(
                    Effect.provide(context),
                    Effect.timeoutFail({
                      duration: READ_TIMEOUT,
                      onTimeout: () => new StoreError({ reason: `no answer within ${READ_TIMEOUT}` })
                    }),
                    Effect.tap(() => recovered),
                    Effect.catchIf(isStoreError, (error) =>
                      Effect.zipRight(fallBack(error.reason), onPrimary(use))
                    )
                  )
              })
            )
          return { read }
        })
      )
  })
