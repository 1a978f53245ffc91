/**
 * Group commit: the stock writes of many concurrent callers share one transaction, so one COMMIT
 * (one fsync) decides many requests. While a group's transaction is in flight the next requests
 * queue; then every queued request (up to a bound) goes in the next group. A lone request waits
 * for nothing: with nothing queued or being decided, it runs at once, in its caller's fiber, as it
 * would without group commit (`run`).
 *
 * Each request keeps its own outcome. It runs as its own unit inside the group's transaction,
 * in arrival order (so changes to one level see each other), and its refusal undoes only its
 * own writes. Every answer, applied or refused, is given after the COMMIT that decided it; if
 * the group's transaction fails (the database is cut), every request of the group fails with a
 * StoreError and nothing of the group is written.
 *
 * A unit runs in one of two ways. `safe` is its own savepoint, as a nested transaction is. `fast`
 * skips the savepoint's two round trips, for a request whose only refusals are decided by a read
 * after its conditional statement matched no row, so they leave the transaction usable. If a
 * fast unit fails otherwise (a foreign key, the level's limit), the transaction is aborted: the
 * group is rolled back and run again with every unit safe.
 *
 * Statements, not commits, are most of a group's cost (docs/benchmarks-log.md), so the group's plain
 * changes (a unit with a `setBased` part: for the stock writer, an adjustment without a key) go
 * first, in one set-based statement, when there are two or more: a group of many sales of a few
 * products (the hot-SKU case) sends one statement, in which each level's changes apply in arrival
 * order. A plain change joins it only while no other request of the group has touched its level
 * before it, so each level still changes in arrival order; the statement takes its changes in lock
 * order (their level keys sorted, a level's in arrival order), so groups of several processes
 * cannot deadlock on each other. The changes of a level the statement did not apply (one of them
 * would have failed its condition: insufficient stock, held stock, the level's limit) run their
 * fast units next, in arrival order, which apply them or explain the refusal as lone requests'
 * would, before any later request on the level. If the statement fails (a foreign key), the group
 * is rolled back and run again per unit, so that each request gets its own answer.
 *
 * A group that is one statement needs no BEGIN and COMMIT around it: the database commits a
 * statement on its own, all of it or nothing. So a lone request that can be sent alone (`alone`)
 * is, and a group whose requests all go in one set-based statement (plain changes, of one level or
 * many) sends that statement alone; its changes that statement did not apply then run as units,
 * in a transaction of their own, and are answered after it. Each request is still answered only
 * after the commit that decided it; only the group's one transaction is given up, which decided
 * nothing the statement alone does not.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import { StoreError } from "../InventoryError.js"
import { committedAlone } from "./outbox.js"
import { failOnSqlDefect, isRetryableConflict, pgCode, storeFailure } from "./validation.js"

/** One request's work, to run inside the group's transaction. */
export interface Unit<A, E, C = never, R = never> {
  /** The work as its own savepoint: on failure it has undone its own writes. */
  readonly safe: Effect.Effect<A, E>
  /** The work without a savepoint, when its refusals write nothing (see `fastRefusal`). */
  readonly fast?: Effect.Effect<A, E> | undefined
  /** The failures of `fast` that leave the transaction usable; any other aborts it. */
  readonly fastRefusal?: ((error: E) => boolean) | undefined
  /**
   * The levels the work writes, as keys that sort in lock order. Without them the work may write
   * any level, so no later request of its group goes ahead of it into the set-based statement.
   */
  readonly levels?: ReadonlyArray<string> | undefined
  /**
   * A plain change of one level (with `fast`): what the group's set-based statement takes, and
   * the request's answer from the row the statement returns for it.
   */
  readonly setBased?: { readonly change: C; readonly answer: (applied: R) => Effect.Effect<A, E> } | undefined
  /**
   * The work outside any transaction, for a request alone in its group: a single statement, which
   * commits on its own, or what opens its own transactions.
   */
  readonly alone?: Effect.Effect<A, E> | undefined
}

/**
 * Applies plain changes in one statement, in the order given; answers, at each change's index,
 * its row, or undefined for a change whose condition failed (it wrote nothing).
 */
export type SetStatement<C, R> = (
  changes: ReadonlyArray<C>
) => Effect.Effect<ReadonlyArray<R | undefined>, SqlError>

export interface GroupCommitter<C = never, R = never> {
  /** Runs `unit` in the next group; answers once that group's transaction has committed. */
  readonly run: <A, E>(unit: Unit<A, E, C, R>) => Effect.Effect<A, E | StoreError>
}

/** Requests per group at most: a bound on one transaction's length and locks. */
export const MAX_GROUP = 128

/**
 * Requests per committed group, for `/metrics`: a mean near 1 means the writes did not overlap,
 * so grouping saved nothing.
 */
export const groupSize = Metric.histogram(
  "inv_stock_write_group_size",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 8 }),
  "Stock write requests committed together in one transaction"
)

interface Queued {
  readonly unit: Unit<unknown, unknown, any, any>
  readonly done: Deferred.Deferred<unknown, unknown>
}

/** A fast unit aborted the transaction: run the group again with savepoints. */
class NeedsSavepoints extends Data.TaggedError("NeedsSavepoints") {}

/** The set-based statement aborted the transaction: run the group again per unit. */
class NeedsUnits extends Data.TaggedError("NeedsUnits") {}

/**
 * How a group's transaction runs its requests: `set`, the plain changes in one statement and the
 * rest as fast units where they can; `fast`, every request as a unit, fast where it can; `safe`,
 * every request in its own savepoint.
 */
type Mode = "set" | "fast" | "safe"

/** A failure that is the connection's, not the request's: the whole group has failed. */
const isConnectionLoss = (error: unknown): error is SqlError => {
  if (!(error instanceof SqlError)) return false
  const code = pgCode(error)
  return code === undefined || code.startsWith("08") || code.startsWith("57P")
}

const groupFailure = (cause: Cause.Cause<unknown>): StoreError => {
  const error = Option.getOrUndefined(Cause.failureOption(cause))
  if (error instanceof StoreError) return error
  if (error instanceof SqlError) return storeFailure(error)
  const defect = Cause.squash(cause)
  return defect instanceof SqlError
    ? storeFailure(defect)
    : new StoreError({ reason: `the write transaction failed: ${String(defect)}` })
}

/**
 * Starts the committer in the scope. When the scope closes, a group in flight finishes (its
 * callers get their answers) and requests still queued fail with a StoreError.
 */
export const make = <C = never, R = never>(
  maxGroup = MAX_GROUP,
  setStatement?: SetStatement<C, R> | undefined
): Effect.Effect<GroupCommitter<C, R>, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const queue = yield* Queue.unbounded<Queued>()

    /** One request as its own unit, answered by its exit, unless its failure is the group's. */
    const runUnit = (
      unit: Unit<unknown, unknown, C, R>,
      fast: boolean
    ): Effect.Effect<Exit.Exit<unknown, unknown>, unknown> => {
      const useFast = fast && unit.fast !== undefined
      return Effect.exit(useFast ? unit.fast! : unit.safe).pipe(
        Effect.flatMap((exit): Effect.Effect<Exit.Exit<unknown, unknown>, unknown> => {
          if (Exit.isSuccess(exit)) return Effect.succeed(exit)
          const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
          // The connection is gone or the transaction lost a race: the group, not the
          // request, has failed (a lost race is run again as a whole, releasing its locks).
          if (isConnectionLoss(error) || isRetryableConflict(error)) return Effect.fail(error)
          if (Cause.isDie(exit.cause)) return Effect.failCause(exit.cause)
          if (useFast && !(error !== undefined && unit.fastRefusal?.(error)))
            return Effect.fail(new NeedsSavepoints())
          return Effect.succeed(exit)
        })
      )
    }

    /**
     * The group's requests that go in its set-based statement, in lock order (a level's in arrival
     * order). A level's changes join while every earlier request of the group on it is a plain
     * change (and none may write any level); the rest run as units after the statement. None
     * unless two or more: a lone plain change sends the same one statement as its own unit.
     */
    const setBasedPart = (group: ReadonlyArray<Queued>): ReadonlyArray<Queued> => {
      if (setStatement === undefined) return []
      /** Levels another request of the group touched: no plain change of them may join after it. */
      const closed = new Set<string>()
      let anyLevel = false
      const part: Array<Queued> = []
      for (const queued of group) {
        const { levels, setBased } = queued.unit
        if (levels === undefined) anyLevel = true
        const level = levels?.length === 1 ? levels[0]! : undefined
        if (!anyLevel && setBased !== undefined && level !== undefined && !closed.has(level)) {
          part.push(queued)
        } else {
          for (const key of levels ?? []) closed.add(key)
        }
      }
      if (part.length < 2) return []
      const levelOf = (queued: Queued) => queued.unit.levels![0]!
      // A stable sort: a level's changes keep their arrival order.
      return part.sort((a, b) => (levelOf(a) < levelOf(b) ? -1 : levelOf(a) > levelOf(b) ? 1 : 0))
    }

    const attempt = (group: ReadonlyArray<Queued>, mode: Mode) =>
      failOnSqlDefect(
        sql.withTransaction(
          Effect.gen(function* () {
            const outcomes = new Map<Queued, Exit.Exit<unknown, unknown>>()
            const part = mode === "set" ? setBasedPart(group) : []
            if (part.length > 0) {
              const rows = yield* setStatement!(part.map(({ unit }) => unit.setBased!.change)).pipe(
                Effect.catchAll(
                  (error): Effect.Effect<never, SqlError | NeedsUnits> =>
                    isConnectionLoss(error) || isRetryableConflict(error)
                      ? Effect.fail(error)
                      : Effect.fail(new NeedsUnits())
                )
              )
              for (const [i, queued] of part.entries()) {
                const row = rows[i]
                // Not applied: the fast unit decides, as for a lone request, right after the
                // statement (a level's changes in arrival order), before any later request on it.
                const outcome =
                  row === undefined
                    ? yield* runUnit(queued.unit, true)
                    : yield* Effect.exit(queued.unit.setBased!.answer(row))
                outcomes.set(queued, outcome)
              }
            }
            for (const queued of group) {
              if (!outcomes.has(queued)) outcomes.set(queued, yield* runUnit(queued.unit, mode !== "safe"))
            }
            return group.map((queued) => outcomes.get(queued)!)
          })
        )
      )

    /** Each request's outcome: a failure of the transaction itself is each request's StoreError. */
    type Outcomes = Effect.Effect<ReadonlyArray<Exit.Exit<unknown, unknown>>>

    /** The group in one transaction, set-based first (`first`), then per unit, then in savepoints. */
    const inTransaction = (group: ReadonlyArray<Queued>, first: Mode): Outcomes =>
      attempt(group, first).pipe(
        Effect.catchIf(
          (error) => error instanceof NeedsUnits,
          () => attempt(group, "fast")
        ),
        Effect.catchIf(
          (error) => error instanceof NeedsSavepoints,
          () => attempt(group, "safe")
        ),
        Effect.retry({ while: isRetryableConflict, times: 5 }),
        Effect.catchAllCause((cause) => Effect.succeed(group.map(() => Exit.fail(groupFailure(cause)))))
      )

    /**
     * A group whose requests are all in one set-based statement (`part`, in lock order): the
     * statement alone, then the changes it did not apply as units in a transaction of their own.
     * A statement that failed wrote nothing: unless the connection is gone, the group runs in a
     * transaction per unit, as it would have.
     */
    const oneStatement = (group: ReadonlyArray<Queued>, part: ReadonlyArray<Queued>): Outcomes =>
      Effect.gen(function* () {
        const sent = yield* committedAlone(
          sql,
          failOnSqlDefect(setStatement!(part.map(({ unit }) => unit.setBased!.change)))
        ).pipe(Effect.retry({ while: isRetryableConflict, times: 5 }), Effect.either)
        if (Either.isLeft(sent)) {
          return isConnectionLoss(sent.left)
            ? group.map(() => Exit.fail(storeFailure(sent.left)))
            : yield* inTransaction(group, "fast")
        }
        const outcomes = new Map<Queued, Exit.Exit<unknown, unknown>>()
        const declined: Array<Queued> = []
        for (const [i, queued] of part.entries()) {
          const row = sent.right[i]
          if (row === undefined) declined.push(queued)
          else outcomes.set(queued, yield* Effect.exit(queued.unit.setBased!.answer(row)))
        }
        if (declined.length > 0) {
          const again = yield* inTransaction(declined, "fast")
          for (const [i, queued] of declined.entries()) outcomes.set(queued, again[i]!)
        }
        return group.map((queued) => outcomes.get(queued)!)
      })

    /** The group's outcomes: alone, in one statement, or in a transaction. */
    const decideGroup = (group: ReadonlyArray<Queued>): Outcomes => {
      const [only] = group
      if (group.length === 1 && only?.unit.alone !== undefined)
        return Effect.map(Effect.exit(only.unit.alone), (exit) => [exit])
      const part = setBasedPart(group)
      return part.length === group.length ? oneStatement(group, part) : inTransaction(group, "set")
    }

    /** Requests queued or being decided, not yet answered. */
    let pending = 0
    /**
     * A request that found none pending (`run`): for one turn of the scheduler the requests that
     * came with it queue behind it; then it heads their group, or, if none came, runs alone.
     */
    let head: Queued | undefined
    /** A request run alone in its caller's fiber and the committer's groups, one at a time. */
    const oneAtATime = yield* Effect.makeSemaphore(1)

    const commitGroup = (group: ReadonlyArray<Queued>) =>
      decideGroup(group).pipe(
        Effect.flatMap((outcomes) =>
          Effect.zipRight(
            Metric.update(groupSize, group.length),
            Effect.forEach(group, ({ done }, i) => Deferred.done(done, outcomes[i]!), { discard: true })
          )
        ),
        Effect.ensuring(
          Effect.sync(() => {
            pending -= group.length
          })
        ),
        // A group that started is finished and answered, also while the scope closes.
        Effect.uninterruptible
      )

    // Waits for one request, then (once no lone request runs) takes the head and every request
    // queued meanwhile. (`takeBetween(queue, 1, n)` would answer the one it waited for alone.)
    yield* Queue.take(queue).pipe(
      Effect.flatMap((first) =>
        oneAtATime.withPermits(1)(
          Effect.suspend(() => {
            const lead = head
            head = undefined
            return Effect.flatMap(Queue.takeUpTo(queue, maxGroup - (lead === undefined ? 1 : 2)), (rest) =>
              commitGroup([...(lead === undefined ? [] : [lead]), first, ...rest])
            )
          })
        )
      ),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Queue.takeAll(queue), (left) =>
        Effect.forEach(
          head === undefined ? left : [head, ...left],
          ({ done }) => Deferred.fail(done, new StoreError({ reason: "the store is closing; try it again" })),
          { discard: true }
        )
      ).pipe(Effect.zipRight(Queue.shutdown(queue)))
    )

    const queued = <A, E>(unit: Unit<A, E, C, R>): Effect.Effect<A, E | StoreError> =>
      Effect.flatMap(Deferred.make<unknown, unknown>(), (done) =>
        Effect.zipRight(
          Queue.offer(queue, { unit: unit as Unit<unknown, unknown, C, R>, done }),
          Deferred.await(done) as Effect.Effect<A, E | StoreError>
        )
      )

    /**
     * Runs `unit` alone, in its caller's fiber, as it would run without group commit: a lone caller
     * pays no hand-over to the committer's fiber and back (an eighth of a lone adjustment's CPU).
     */
    const alone = <A, E>(run: Effect.Effect<A, E>) =>
      oneAtATime
        .withPermits(1)(Effect.ensuring(run, Metric.update(groupSize, 1)))
        .pipe(
          Effect.ensuring(
            Effect.sync(() => {
              pending -= 1
            })
          )
        )

    const run = <A, E>(unit: Unit<A, E, C, R>): Effect.Effect<A, E | StoreError> =>
      Effect.suspend(() => {
        pending += 1
        if (pending > 1 || unit.alone === undefined) return queued(unit)
        const lone = unit.alone
        // Decided to the end, as a group is, whoever stops waiting for it.
        return Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(Deferred.make<unknown, unknown>(), (done) => {
            const entry: Queued = { unit: unit as Unit<unknown, unknown, C, R>, done }
            head = entry
            return Effect.flatMap(Effect.yieldNow(), () => {
              if (head === entry && pending === 1) {
                head = undefined
                return alone(lone)
              }
              // Requests came with it: it heads their group.
              return restore(Deferred.await(done) as Effect.Effect<A, E | StoreError>)
            })
          })
        )
      })
    return { run }
  })
