/**
 * Group commit on PostgreSQL: concurrent writes share transactions, and each still gets its own
 * outcome, given only after the commit that decided it. A level is held by a second connection's
 * `select … for update` to make requests queue behind a group deterministically.
 */

import * as SqlClient from "@effect/sql/SqlClient"
import { expect, layer } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import pg from "pg"
import { describe } from "vitest"
import * as Inventory from "../src/Inventory.js"
import {
  IdempotencyKeyReused,
  InsufficientStock,
  ProductNotFound,
  StockConflict,
  StoreError
} from "../src/InventoryError.js"
import { groupSize } from "../src/internal/groupCommit.js"
import { DEFAULT_LOCATION, Locations } from "../src/Location.js"
import { Products } from "../src/Product.js"
import { Reservations } from "../src/Reservation.js"
import { MAX_LEVEL } from "../src/Rules.js"
import { groupCommit, Stock, type StockChange } from "../src/Stock.js"
import * as Store from "../src/Store.js"
import {
  expectLedgerConsistent,
  freshPostgresDatabase,
  POSTGRES_URL,
  postgresReachable,
  storeTotals
} from "./utils.js"

const groupedStore = Layer.unwrapScoped(
  Effect.map(freshPostgresDatabase, (url) =>
    Inventory.layer(Store.postgres(url)).pipe(Layer.provide(groupCommit()))
  )
)

/** mulberry32: the same seed gives the same requests on every run. */
const seededRandom = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** Groups committed so far and the requests in them. */
const groupTotals = Effect.map(Metric.value(groupSize), (state) => ({
  groups: state.count,
  requests: state.sum
}))

/** Holds the level of `sku` locked from another connection until `release` is completed. */
const holdLevel = (sku: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const locked = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const holder = yield* sql
      .withTransaction(
        Effect.zipRight(
          sql`select on_hand from stock_levels where sku = ${sku} for update`,
          Effect.zipRight(Deferred.succeed(locked, undefined), Deferred.await(release))
        )
      )
      .pipe(Effect.fork)
    yield* Deferred.await(locked)
    return Effect.zipRight(Deferred.succeed(release, undefined), Fiber.join(holder))
  })

/** The backend of the group's transaction, once it waits for a held level. */
const waitingBackend = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  for (let i = 0; i < 200; i++) {
    const rows = yield* sql<{ pid: number }>`
      select pid from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`
    if (rows.length === 1) return rows[0]!.pid
    yield* Effect.sleep("25 millis")
  }
  return yield* Effect.dieMessage("no transaction came to wait for the held level")
})

const isPending = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isNone)

/** Runs `effect` and answers, with its result, the text of every statement pg sent meanwhile. */
const recordingStatements = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const sent: Array<string> = []
      const original = pg.Client.prototype.query
      pg.Client.prototype.query = function (this: pg.Client, config: unknown, ...rest: Array<unknown>) {
        sent.push(typeof config === "string" ? config : (config as { text: string }).text)
        return (original as (...args: Array<unknown>) => unknown).call(this, config, ...rest)
      } as typeof original
      return { sent, original }
    }),
    ({ sent }) => Effect.map(effect, (result) => [result, sent] as const),
    ({ original }) =>
      Effect.sync(() => {
        pg.Client.prototype.query = original
      })
  )

/** The statements that change a level: each writes its ledger movements. */
const changeStatements = (sent: ReadonlyArray<string>) =>
  sent.filter((text) => /insert into stock_movements/i.test(text))

/** Runs `writes` as one group, queued behind a group that waits on the held level of `heldSku`. */
const asOneGroup = <A>(heldSku: string, writes: ReadonlyArray<Effect.Effect<A, unknown>>) =>
  Effect.gen(function* () {
    const stock = yield* Stock
    const release = yield* holdLevel(heldSku)
    const blocked = yield* Effect.fork(stock.adjust({ sku: heldSku, delta: 1 }))
    yield* waitingBackend
    const before = yield* groupTotals
    const queued = yield* Effect.all(writes.map((write) => Effect.fork(Effect.either(write))))
    yield* Effect.sleep("100 millis")
    for (const fiber of queued) expect(yield* isPending(fiber)).toBe(true)
    yield* release
    yield* Fiber.join(blocked)
    const outcomes = yield* Effect.forEach(queued, Fiber.join)
    const after = yield* groupTotals
    expect({ groups: after.groups - before.groups, requests: after.requests - before.requests }).toEqual({
      groups: 2,
      requests: writes.length + 1
    })
    return outcomes
  })

/** An outcome as the level it left, or the refusal's tag. */
const levelOrRefusal = (outcome: Either.Either<StockChange, unknown>) =>
  Either.isRight(outcome) ? outcome.right.onHand : (outcome.left as { readonly _tag: string })._tag

describe.skipIf(!(await postgresReachable()))(`PostgreSQL at ${POSTGRES_URL}`, () => {
  layer(groupedStore, { excludeTestServices: true, timeout: "60 seconds" })("group commit", (it) => {
    it.effect(
      "16 clients × random adjust, set and transfer, some keyed and retried: every unit accounted for",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          const products = yield* Products
          yield* (yield* Locations).add({ code: "back" })
          const skus = Array.from({ length: 6 }, (_, i) => `GC-${i}`)
          yield* Effect.forEach(skus, (sku) => products.add({ sku, name: `Grouped ${sku}` }))
          yield* Effect.forEach(skus, (sku) => stock.set({ sku, quantity: 20 }))
          const [{ first }] = (yield* sql<{ first: number }>`
            select coalesce(max(id), 0)::int + 1 as first from stock_movements`) as [{ first: number }]
          const before = yield* groupTotals

          const random = seededRandom(20261205)
          const pick = <T>(items: ReadonlyArray<T>) => items[Math.floor(random() * items.length)]!
          type Outcome =
            | { readonly movements: ReadonlyArray<number> }
            | { readonly refusal: unknown; readonly said: string }
          const request = (client: number, n: number) => {
            const sku = random() < 0.03 ? "GC-NONE" : pick(skus)
            const location = pick([DEFAULT_LOCATION, "back"])
            const kind = random()
            const key = random() < 0.3 ? `gc-${client}-${n}` : undefined
            const keyed = key === undefined ? {} : { idempotencyKey: key }
            const send: Effect.Effect<ReadonlyArray<StockChange>, unknown> = kind < 0.6
              ? Effect.map(
                  stock.adjust({ sku, location, delta: pick([-7, -5, -3, -1, 1, 2, 4, 6]), ...keyed }),
                  (c) => [c]
                )
              : kind < 0.8
                ? Effect.map(
                    stock.set({
                      sku,
                      location,
                      quantity: Math.floor(random() * 30),
                      ...(random() < 0.5 ? { expected: Math.floor(random() * 30) } : {}),
                      ...keyed
                    }),
                    (c) => [c]
                  )
                : Effect.map(
                    stock.transfer({
                      sku,
                      quantity: 1 + Math.floor(random() * 8),
                      from: location,
                      to: location === "back" ? DEFAULT_LOCATION : "back",
                      ...keyed
                    }),
                    (t) => [t.from, t.to]
                  )
            const outcome = Effect.map(
              Effect.either(send),
              (either): Outcome =>
                Either.isRight(either)
                  ? { movements: either.right.map((c) => c.movementId) }
                  : {
                      refusal: either.left,
                      said: `${(either.left as Error).name}: ${(either.left as Error).message}`
                    }
            )
            // A keyed request is sent again, as a client retrying after a lost answer would.
            return key === undefined
              ? Effect.map(outcome, (o) => [o])
              : Effect.all([outcome, outcome], { concurrency: 2 })
          }
          const outcomes = (yield* Effect.forEach(
            Array.from({ length: 16 }, (_, client) => client),
            (client) =>
              Effect.forEach(
                Array.from({ length: 60 }, (_, n) => n),
                (n) => request(client, n)
              ),
            { concurrency: 16 }
          )).flat()

          const summary = (o: Outcome) => ("movements" in o ? o.movements : o.said)
          const answered = new Set<number>()
          let refusals = 0
          for (const tries of outcomes) {
            const [firstTry, retry] = tries
            // A retried key gives the first answer again, refusal or change.
            if (retry !== undefined) expect(summary(retry)).toEqual(summary(firstTry!))
            if ("movements" in firstTry!) {
              for (const id of firstTry.movements) answered.add(id)
            } else {
              refusals++
              const refusal = firstTry!.refusal
              expect(
                refusal instanceof InsufficientStock ||
                  refusal instanceof StockConflict ||
                  refusal instanceof ProductNotFound,
                String(refusal)
              ).toBe(true)
            }
          }
          expect(answered.size).toBeGreaterThan(100)
          expect(refusals).toBeGreaterThan(10)

          // Every change answered is in the ledger once, and nothing else is: a refusal wrote nothing.
          const written = yield* sql<{
            id: number
          }>`select id from stock_movements where id >= ${first} order by id`
          expect(written.map((row) => row.id)).toEqual([...answered].sort((a, b) => a - b))
          expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
          const [{ lowest }] = (yield* sql<{ lowest: number }>`
            select min(on_hand)::int as lowest from stock_levels`) as [{ lowest: number }]
          expect(lowest).toBeGreaterThanOrEqual(0)

          // The writes did overlap, and went together.
          const after = yield* groupTotals
          expect(after.requests - before.requests).toBeGreaterThan(after.groups - before.groups)
        }),
      180_000
    )

    it.effect("a refused change inside a group leaves the others applied, each answered its own", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const products = yield* Products
        for (const sku of ["HOLD-1", "MIX-1", "MIX-2"]) yield* products.add({ sku, name: sku })
        yield* stock.set({ sku: "HOLD-1", quantity: 5 })
        yield* stock.set({ sku: "MIX-1", quantity: 10 })
        yield* stock.set({ sku: "MIX-2", quantity: 3 })
        const totalsBefore = yield* storeTotals
        const release = yield* holdLevel("HOLD-1")
        // The first group waits on the held level; the rest queue behind it, then go as one group.
        const blocked = yield* Effect.fork(stock.adjust({ sku: "HOLD-1", delta: 1 }))
        yield* waitingBackend
        const before = yield* groupTotals
        const queued = yield* Effect.all(
          [
            stock.adjust({ sku: "MIX-1", delta: -4 }),
            stock.adjust({ sku: "MIX-2", delta: -5 }), // refused: only 3
            stock.adjust({ sku: "MIX-1", delta: -4 }), // sees the first: 6 left, so 2
            stock.adjust({ sku: "MIX-1", delta: -4 }), // refused: 2 left
            stock.set({ sku: "MIX-2", quantity: 9, expected: 2 }), // refused: 3 there
            stock.adjust({ sku: "NOT-THERE", delta: -1 }), // refused: no such product
            stock.set({ sku: "MIX-2", quantity: 7 }),
            stock.adjust({ sku: "MIX-1", delta: 1, idempotencyKey: "mix-key" }),
            stock.adjust({ sku: "MIX-1", delta: 2, idempotencyKey: "mix-key" }) // refused: key reused
          ].map((write) => Effect.fork(Effect.either(write)))
        )
        yield* Effect.sleep("100 millis")
        for (const fiber of queued) expect(yield* isPending(fiber)).toBe(true)
        yield* release
        expect((yield* Fiber.join(blocked)).onHand).toBe(6)
        const outcomes = yield* Effect.forEach(queued, Fiber.join)
        const after = yield* groupTotals
        expect({ groups: after.groups - before.groups, requests: after.requests - before.requests }).toEqual({
          groups: 2,
          requests: 10
        })
        const summary = outcomes.map((o) =>
          Either.isRight(o) ? o.right.onHand : (o.left as { readonly _tag: string })._tag
        )
        expect(summary).toEqual([
          6,
          "InsufficientStock",
          2,
          "InsufficientStock",
          "StockConflict",
          "ProductNotFound",
          7,
          3,
          "IdempotencyKeyReused"
        ])
        expect(Either.getLeft(outcomes[1]!).pipe(Option.getOrThrow)).toMatchObject({
          available: 3,
          requested: 5
        })
        expect(Either.getLeft(outcomes[8]!).pipe(Option.getOrThrow)).toBeInstanceOf(IdempotencyKeyReused)
        const totalsAfter = yield* storeTotals
        // Five changes applied (and the held one), each with its movement and event; one key kept.
        expect(totalsAfter.movements - totalsBefore.movements).toBe(5)
        expect(totalsAfter.events - totalsBefore.events).toBe(5)
        expect(totalsAfter.keys - totalsBefore.keys).toBe(1)
        expect((yield* stock.level("MIX-1")).onHand).toBe(3)
        expect((yield* stock.level("MIX-2")).onHand).toBe(7)
        // The event says where the level stands against its reorder point, for the rule's consumer.
        const sql = yield* SqlClient.SqlClient
        const [event] = yield* sql<{ data: unknown }>`
          select data from outbox where type = 'stock.updated' and subject = 'MIX-2' order by id desc limit 1`
        expect(event!.data).toMatchObject({ onHand: 7, available: 7, reorderPoint: 0 })
        expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
      })
    )

    it.effect(
      "a group of plain adjustments on distinct levels is one change statement, each its own answer",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          const products = yield* Products
          const skus = Array.from({ length: 8 }, (_, i) => `SET-${i}`)
          for (const sku of ["SET-HELD", ...skus]) yield* products.add({ sku, name: sku, reorderPoint: 8 })
          for (const sku of ["SET-HELD", ...skus]) yield* stock.set({ sku, quantity: 10 })
          const [{ lastEvent }] = (yield* sql<{ lastEvent: number }>`
          select max(id)::int as last_event from outbox`) as [{ lastEvent: number }]
          const deltas = skus.map((_, i) => (i % 2 === 0 ? i + 1 : -(i + 1)))
          // Each request in its own span: its event carries its own trace context.
          const [outcomes, sent] = yield* recordingStatements(
            asOneGroup(
              "SET-HELD",
              skus.map((sku, i) =>
                Effect.flatMap(Effect.currentSpan, (span) =>
                  Effect.map(
                    stock.adjust({
                      sku,
                      delta: deltas[i]!,
                      reason: deltas[i]! > 0 ? "receipt" : "sale",
                      reference: `order-${i}`,
                      actor: `clerk-${i}`
                    }),
                    (change) => ({ change, traceId: span.traceId })
                  )
                ).pipe(Effect.withSpan(`adjust ${sku}`))
              )
            )
          )
          // One statement for the held request's group (a lone request keeps its own), one for the
          // eight adjustments of the next (one each before).
          const changes = changeStatements(sent)
          expect(changes).toHaveLength(2)
          expect(changes[1]).toMatch(/unnest\(/)
          const applied = outcomes.map((o) => Either.getOrThrow(o))
          expect(applied.map(({ change }) => change.onHand)).toEqual(deltas.map((delta) => 10 + delta))
          expect(applied.map(({ change }) => [change.reason, change.reference, change.actor])).toEqual(
            skus.map((_, i) => [deltas[i]! > 0 ? "receipt" : "sale", `order-${i}`, `clerk-${i}`])
          )

          // Each event is the one a lone adjustment writes, with its request's trace context.
          const events = yield* sql<{
            subject: string
            data: Record<string, unknown>
            traceparent: string | null
          }>`
          select subject, data, traceparent from outbox
          where id > ${lastEvent} and type = 'stock.updated' and subject like 'SET-%' and subject <> 'SET-HELD'`
          expect(events).toHaveLength(skus.length)
          for (const [i, { change, traceId }] of applied.entries()) {
            const event = events.find((e) => e.subject === skus[i])!
            expect(event.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-0[01]$`))
            const { at, ...data } = event.data
            expect(new Date(at as string).getTime()).toBe(change.at.getTime())
            expect(data).toEqual({
              sku: change.sku,
              location: change.location,
              delta: change.delta,
              onHand: change.onHand,
              version: change.version,
              reason: change.reason,
              reference: change.reference,
              actor: change.actor,
              movementId: change.movementId,
              available: change.onHand,
              reorderPoint: 8
            })
          }
          expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
        })
    )

    it.effect(
      "a group that is one statement is sent alone, without BEGIN and COMMIT; a change it declined is decided in a transaction of its own",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const products = yield* Products
          const skus = ["ALONE-1", "ALONE-2", "ALONE-3", "ALONE-4"]
          for (const sku of ["ALONE-HELD", ...skus]) yield* products.add({ sku, name: sku })
          for (const sku of ["ALONE-HELD", ...skus]) yield* stock.set({ sku, quantity: 10 })
          const totalsBefore = yield* storeTotals
          // A lone request sends its one statement, as it does without group commit.
          const [lone, loneSent] = yield* recordingStatements(stock.adjust({ sku: "ALONE-1", delta: -1 }))
          expect(lone.onHand).toBe(9)
          const written = (sent: ReadonlyArray<string>) => sent.filter((text) => !/^\s*notify /i.test(text))
          expect(written(loneSent)).toHaveLength(1)
          expect(changeStatements(loneSent)).toHaveLength(1)

          const release = yield* holdLevel("ALONE-HELD")
          const blocked = yield* Effect.fork(stock.adjust({ sku: "ALONE-HELD", delta: 1 }))
          yield* waitingBackend
          const [outcomes, sent] = yield* recordingStatements(
            Effect.gen(function* () {
              const queued = yield* Effect.all(
                [
                  stock.adjust({ sku: "ALONE-1", delta: -2 }),
                  stock.adjust({ sku: "ALONE-2", delta: -11 }), // declined: 10 there
                  stock.adjust({ sku: "ALONE-3", delta: 5 }),
                  stock.adjust({ sku: "ALONE-4", delta: -9 }) // above the reorder point: no rule runs
                ].map((write) => Effect.fork(Effect.either(write)))
              )
              yield* Effect.sleep("100 millis")
              for (const fiber of queued) expect(yield* isPending(fiber)).toBe(true)
              yield* release
              yield* Fiber.join(blocked)
              return yield* Effect.forEach(queued, Fiber.join)
            })
          )
          expect(outcomes.map(levelOrRefusal)).toEqual([7, "InsufficientStock", 15, 1])
          // The group's one statement, then the declined change run again in a transaction of its
          // own (BEGIN, the change, its explanation, COMMIT); the other COMMIT is the holder's
          // (it began before the recording, as did the held level's lone statement).
          const texts = written(sent).map((text) => text.trim().toLowerCase())
          expect(changeStatements(sent)).toHaveLength(2)
          expect(changeStatements(sent)[0]).toMatch(/unnest\(/)
          expect(texts.filter((text) => text === "begin")).toHaveLength(1)
          expect(texts.filter((text) => text === "commit")).toHaveLength(2)
          const totalsAfter = yield* storeTotals
          expect(totalsAfter.movements - totalsBefore.movements).toBe(1 + 1 + 3)
          expect(totalsAfter.events - totalsBefore.events).toBe(1 + 1 + 3)
          expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
        })
    )

    it.effect("a request queued behind one whose connection is cut runs on a connection that works", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        const products = yield* Products
        for (const sku of ["STALE-HELD", "STALE-NEXT"]) yield* products.add({ sku, name: sku })
        for (const sku of ["STALE-HELD", "STALE-NEXT"]) yield* stock.set({ sku, quantity: 5 })
        const release = yield* holdLevel("STALE-HELD")
        // Alone in its group, the first sends its statement outside a transaction. Cut, its
        // connection goes back to the pool at once, and the next group, waiting, asks for one.
        const first = yield* Effect.fork(stock.adjust({ sku: "STALE-HELD", delta: 1 }))
        const backend = yield* waitingBackend
        const next = yield* Effect.fork(stock.adjust({ sku: "STALE-NEXT", delta: -2 }))
        yield* Effect.sleep("50 millis")
        expect(yield* isPending(next)).toBe(true)
        yield* sql`select pg_terminate_backend(${backend})`
        expect(
          Either.getLeft(yield* Effect.either(Fiber.join(first))).pipe(Option.getOrThrow)
        ).toBeInstanceOf(StoreError)
        expect((yield* Fiber.join(next)).onHand).toBe(3)
        yield* release
        expect((yield* stock.level("STALE-HELD")).onHand).toBe(5)
      })
    )

    it.effect(
      "many sales of two hot levels in one group: one statement, each change seeing the ones before it",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          const products = yield* Products
          for (const sku of ["WARM-HELD", "WARM-A", "WARM-B"]) yield* products.add({ sku, name: sku })
          for (const sku of ["WARM-HELD", "WARM-A", "WARM-B"]) yield* stock.set({ sku, quantity: 100 })
          const deltas = Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? i : -(i + 1)))
          const writes = deltas.flatMap((delta, i) => [
            stock.adjust({ sku: "WARM-A", delta, reference: `a-${i}` }),
            stock.adjust({ sku: "WARM-B", delta: -delta, reference: `b-${i}` })
          ])
          const versionOf = (sku: string) =>
            Effect.map(
              sql<{ version: number }>`select version::int as version from stock_levels where sku = ${sku}`,
              ([row]) => row!.version
            )
          const before = yield* versionOf("WARM-A")
          const [outcomes, sent] = yield* recordingStatements(asOneGroup("WARM-HELD", writes))
          // The held level's lone request, then the 24 changes in one statement.
          expect(changeStatements(sent)).toHaveLength(2)
          const running = (changes: ReadonlyArray<number>) => {
            let level = 100
            return changes.map((delta) => (level += delta))
          }
          const expectedA = running(deltas)
          const expectedB = running(deltas.map((delta) => -delta))
          // Each answer is the level as its own change left it, with the version after it.
          const answers = outcomes.map((outcome) => Either.getOrThrow(outcome))
          expect(answers.filter((_, i) => i % 2 === 0).map((change) => change.onHand)).toEqual(expectedA)
          expect(answers.filter((_, i) => i % 2 === 1).map((change) => change.onHand)).toEqual(expectedB)
          expect(answers.filter((_, i) => i % 2 === 0).map((change) => change.version)).toEqual(
            deltas.map((_, i) => before + i + 1)
          )
          const ledger = (sku: string) =>
            Effect.map(
              sql<{ quantityAfter: number; reference: string }>`
                select quantity_after, reference from stock_movements
                where sku = ${sku} and reason <> 'count' order by id`,
              (rows) => rows.map((row) => [row.quantityAfter, row.reference])
            )
          expect(yield* ledger("WARM-A")).toEqual(expectedA.map((level, i) => [level, `a-${i}`]))
          expect(yield* ledger("WARM-B")).toEqual(expectedB.map((level, i) => [level, `b-${i}`]))
          // The events say the same, in the same order, with the level's version after each change.
          const events = yield* sql<{ onHand: number; version: number }>`
            select (data->>'onHand')::int as on_hand, (data->>'version')::int as version from outbox
            where type = 'stock.updated' and subject = 'WARM-A' and data->>'reason' <> 'count' order by id`
          expect(events.map((event) => event.onHand)).toEqual(expectedA)
          expect(events.map((event) => event.version)).toEqual(deltas.map((_, i) => before + i + 1))
          expect(yield* versionOf("WARM-A")).toBe(before + 12)
          expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
        })
    )

    it.effect(
      "changes of one level answered as one by one: past the limit on the way, a removal before the level exists, a new level in one go",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          const products = yield* Products
          for (const sku of ["EDGE-HELD", "EDGE-FULL", "EDGE-NEW", "EDGE-LATE", "EDGE-BIG"])
            yield* products.add({ sku, name: sku })
          yield* stock.set({ sku: "EDGE-HELD", quantity: 1 })
          yield* stock.set({ sku: "EDGE-FULL", quantity: MAX_LEVEL - 1 })
          const outcomes = yield* asOneGroup("EDGE-HELD", [
            // One by one the first goes past the limit and is refused; the second then applies.
            stock.adjust({ sku: "EDGE-FULL", delta: 5 }),
            stock.adjust({ sku: "EDGE-FULL", delta: -5 }),
            // No level yet: the removal finds nothing to take; the receipt creates the level.
            stock.adjust({ sku: "EDGE-LATE", delta: -1 }),
            stock.adjust({ sku: "EDGE-LATE", delta: 4 }),
            // No level yet: created by the first, taken from by the second, in one statement.
            stock.adjust({ sku: "EDGE-NEW", delta: 5 }),
            stock.adjust({ sku: "EDGE-NEW", delta: -3 })
          ])
          expect(outcomes.map(levelOrRefusal)).toEqual([
            "InvalidInput",
            MAX_LEVEL - 6,
            "InsufficientStock",
            4,
            5,
            2
          ])
          // Changes whose total passes the integer range fail the statement: the group goes request
          // by request, each answered as one by one.
          const past = yield* asOneGroup("EDGE-HELD", [
            stock.adjust({ sku: "EDGE-BIG", delta: MAX_LEVEL }),
            stock.adjust({ sku: "EDGE-BIG", delta: MAX_LEVEL }),
            stock.adjust({ sku: "EDGE-BIG", delta: MAX_LEVEL }),
            stock.adjust({ sku: "EDGE-NEW", delta: 1 })
          ])
          expect(past.map(levelOrRefusal)).toEqual([MAX_LEVEL, "InvalidInput", "InvalidInput", 3])
          const levels = yield* sql<{ sku: string; onHand: number; version: number }>`
            select sku, on_hand, version::int as version from stock_levels
            where sku in ('EDGE-FULL', 'EDGE-NEW', 'EDGE-LATE', 'EDGE-BIG') order by sku`
          expect(levels).toEqual([
            { sku: "EDGE-BIG", onHand: MAX_LEVEL, version: 1 },
            { sku: "EDGE-FULL", onHand: MAX_LEVEL - 6, version: 2 },
            { sku: "EDGE-LATE", onHand: 4, version: 1 },
            { sku: "EDGE-NEW", onHand: 3, version: 3 }
          ])
          expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
        })
    )

    it.effect(
      "many sales of two hot levels in one group, one overselling: its level's changes go one by one, each level in arrival order",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          const products = yield* Products
          for (const sku of ["HOT-HELD", "HOT-A", "HOT-B"]) yield* products.add({ sku, name: sku })
          for (const sku of ["HOT-HELD", "HOT-A", "HOT-B"]) yield* stock.set({ sku, quantity: 100 })
          // Twelve changes of each level, interleaved; the sixth of HOT-A oversells.
          const deltas = Array.from({ length: 12 }, (_, i) => (i === 5 ? -1000 : -(i + 1)))
          const writes = deltas.flatMap((delta, i) => [
            stock.adjust({ sku: "HOT-A", delta, reference: `a-${i}` }),
            stock.adjust({ sku: "HOT-B", delta: i === 5 ? 6 : delta, reference: `b-${i}` })
          ])
          const [outcomes, sent] = yield* recordingStatements(asOneGroup("HOT-HELD", writes))
          // The held level's lone request, then one statement for both levels, which applies
          // HOT-B's twelve changes and none of HOT-A's (one of them oversells), then HOT-A's one by
          // one: its eleven sales and the oversell's attempt. 14, not one per request (25).
          expect(changeStatements(sent)).toHaveLength(1 + 1 + 12)
          const refused = outcomes.filter(Either.isLeft)
          expect(refused).toHaveLength(1)
          expect(Either.getLeft(refused[0]!).pipe(Option.getOrThrow)).toMatchObject({
            _tag: "InsufficientStock",
            sku: "HOT-A"
          })
          // Each level's ledger in arrival order: the quantities after each change are the
          // running sums of its deltas, in the order sent, the oversell left out.
          const after = (changes: ReadonlyArray<number>) => {
            let level = 100
            return changes.map((delta) => (level += delta))
          }
          const ledger = (sku: string) =>
            Effect.map(
              sql<{ quantityAfter: number }>`
                select quantity_after from stock_movements where sku = ${sku} and reason <> 'count' order by id`,
              (rows) => rows.map((row) => row.quantityAfter)
            )
          expect(yield* ledger("HOT-A")).toEqual(after(deltas.filter((delta) => delta !== -1000)))
          expect(yield* ledger("HOT-B")).toEqual(after(deltas.map((delta, i) => (i === 5 ? 6 : delta))))
          expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
        })
    )

    it.effect("a mixed group answers each request as one by one, the ledger in arrival order per level", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        const products = yield* Products
        const levels = { "MIXED-1": 10, "MIXED-2": 3, "MIXED-3": 5, "MIXED-4": 0, "MIXED-HELD": 5 }
        for (const [sku, quantity] of Object.entries(levels)) {
          yield* products.add({ sku, name: sku })
          yield* stock.set({ sku, quantity })
        }
        // Four of MIXED-3's five units are held by a reservation.
        yield* (yield* Reservations).create({ sku: "MIXED-3", quantity: 4, reference: "cart-1" })
        const totalsBefore = yield* storeTotals

        const refusals: Array<unknown> = []
        const answers = (outcomes: ReadonlyArray<Either.Either<StockChange, unknown>>) =>
          outcomes.map((o) => {
            if (Either.isLeft(o)) refusals.push(o.left)
            return levelOrRefusal(o)
          })
        // Without an unknown product: the set-based statement, its refusals decided one by one.
        expect(
          answers(
            yield* asOneGroup("MIXED-HELD", [
              stock.adjust({ sku: "MIXED-1", delta: -4 }),
              stock.adjust({ sku: "MIXED-2", delta: -5 }), // oversold: 3 there
              stock.adjust({ sku: "MIXED-1", delta: -4 }), // the same level again: sees the first
              stock.adjust({ sku: "MIXED-3", delta: -2 }), // held: 1 available
              stock.adjust({ sku: "MIXED-4", delta: 3 }),
              stock.adjust({ sku: "MIXED-1", delta: 1 }),
              stock.adjust({ sku: "MIXED-2", delta: 2 }) // after its refusal: 3 + 2
            ])
          )
        ).toEqual([6, "InsufficientStock", 2, "InsufficientStock", 3, 3, 5])
        // With an unknown product the statement fails: every request runs on its own.
        expect(
          answers(
            yield* asOneGroup("MIXED-HELD", [
              stock.adjust({ sku: "MIXED-4", delta: -1 }),
              stock.adjust({ sku: "NOT-A-PRODUCT", delta: -1 }),
              stock.adjust({ sku: "MIXED-2", delta: -9 }),
              stock.adjust({ sku: "MIXED-4", delta: -1 }),
              stock.adjust({ sku: "MIXED-1", delta: 2 })
            ])
          )
        ).toEqual([2, "ProductNotFound", "InsufficientStock", 1, 5])
        // A level pushed past its limit fails the statement too: it alone is refused.
        expect(
          answers(
            yield* asOneGroup("MIXED-HELD", [
              stock.adjust({ sku: "MIXED-1", delta: -1 }),
              stock.adjust({ sku: "MIXED-4", delta: MAX_LEVEL })
            ])
          )
        ).toEqual([4, "InvalidInput"])
        // The refusals explain themselves with the figures they were decided on.
        expect(refusals.map((error) => ({ ...(error as object) }))).toMatchObject([
          { _tag: "InsufficientStock", sku: "MIXED-2", available: 3, requested: 5 },
          { _tag: "InsufficientStock", sku: "MIXED-3", available: 1, requested: 2, reserved: 4 },
          { _tag: "ProductNotFound", sku: "NOT-A-PRODUCT" },
          { _tag: "InsufficientStock", sku: "MIXED-2", available: 5, requested: 9 },
          { _tag: "InvalidInput", field: "delta", rule: expect.stringContaining("past its limit") }
        ])
        expect((refusals[0] as InsufficientStock).reserved).toBeUndefined()

        // Each level's ledger is its changes in arrival order; the refusals wrote nothing.
        const ledger = yield* sql<{ sku: string; delta: number; quantityAfter: number }>`
          select sku, delta, quantity_after from stock_movements
          where sku like 'MIXED-_' and reason <> 'count' order by sku, id`
        expect(ledger.map(({ sku, delta, quantityAfter }) => `${sku} ${delta} ${quantityAfter}`)).toEqual([
          "MIXED-1 -4 6",
          "MIXED-1 -4 2",
          "MIXED-1 1 3",
          "MIXED-1 2 5",
          "MIXED-1 -1 4",
          "MIXED-2 2 5",
          "MIXED-4 3 3",
          "MIXED-4 -1 2",
          "MIXED-4 -1 1"
        ])
        const totalsAfter = yield* storeTotals
        // Nine changes, and the three held-level ones, each with its movement and event.
        expect(totalsAfter.movements - totalsBefore.movements).toBe(12)
        expect(totalsAfter.events - totalsBefore.events).toBe(12)
        expect(yield* expectLedgerConsistent).toBeGreaterThan(0)
      })
    )

    it.effect("inGroup runs a caller's own transaction as one request: its failure undoes only it", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        yield* (yield* Products).add({ sku: "IG-1", name: "In a group" })
        yield* stock.set({ sku: "IG-1", quantity: 10 })
        const totalsBefore = yield* storeTotals
        const release = yield* holdLevel("IG-1")
        const first = yield* Effect.fork(stock.adjust({ sku: "IG-1", delta: -1 }))
        yield* waitingBackend
        const before = yield* groupTotals
        const units = yield* Effect.all(
          [
            stock.inGroup(
              sql.withTransaction(
                Effect.zipRight(
                  stock.adjust({ sku: "IG-1", delta: -2 }),
                  Effect.fail("changed my mind" as const)
                )
              )
            ),
            stock.inGroup(sql.withTransaction(stock.adjust({ sku: "IG-1", delta: -3 }))),
            stock.adjust({ sku: "IG-1", delta: -4 })
          ].map((unit) => Effect.fork(Effect.either(unit as Effect.Effect<unknown, unknown>)))
        )
        yield* Effect.sleep("100 millis")
        yield* release
        yield* Fiber.join(first)
        const outcomes = yield* Effect.forEach(units, Fiber.join)
        expect(Either.getLeft(outcomes[0]!).pipe(Option.getOrThrow)).toBe("changed my mind")
        expect(outcomes.slice(1).map((o) => Either.isRight(o) && (o.right as StockChange).onHand)).toEqual([
          6, 2
        ])
        const after = yield* groupTotals
        expect({ groups: after.groups - before.groups, requests: after.requests - before.requests }).toEqual({
          groups: 2,
          requests: 4
        })
        expect((yield* storeTotals).movements - totalsBefore.movements).toBe(3)
        expect((yield* stock.level("IG-1")).onHand).toBe(2)
      })
    )

    it.effect("a burst on an idle committer goes in one group, led by its first request", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const products = yield* Products
        const skus = ["TOGETHER-1", "TOGETHER-2", "TOGETHER-3", "TOGETHER-4", "TOGETHER-5"]
        for (const sku of skus) yield* products.add({ sku, name: sku })
        const before = yield* groupTotals
        const levels = yield* Effect.all(
          skus.map((sku) => stock.adjust({ sku, delta: 2 })),
          { concurrency: "unbounded" }
        )
        expect(levels.map((level) => level.onHand)).toEqual([2, 2, 2, 2, 2])
        const after = yield* groupTotals
        // The first found nothing pending and waited one turn; the others queued behind it then.
        expect({ groups: after.groups - before.groups, requests: after.requests - before.requests }).toEqual({
          groups: 1,
          requests: skus.length
        })
      })
    )

    it.effect("no answer is given before the group's commit", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const sql = yield* SqlClient.SqlClient
        const products = yield* Products
        for (const sku of ["WAIT-A", "WAIT-B", "FREE-1"]) yield* products.add({ sku, name: sku })
        for (const sku of ["WAIT-A", "WAIT-B", "FREE-1"]) yield* stock.set({ sku, quantity: 5 })
        const releaseA = yield* holdLevel("WAIT-A")
        const releaseB = yield* holdLevel("WAIT-B")
        const first = yield* Effect.fork(stock.adjust({ sku: "WAIT-A", delta: 1 }))
        yield* waitingBackend
        const free = yield* Effect.fork(stock.adjust({ sku: "FREE-1", delta: 1 }))
        const held = yield* Effect.fork(stock.adjust({ sku: "WAIT-B", delta: 1 }))
        yield* Effect.sleep("50 millis")
        yield* releaseA
        yield* Fiber.join(first)
        // The next group has applied FREE-1 and now waits for WAIT-B: FREE-1 is not answered yet,
        // and not visible to others.
        yield* waitingBackend
        yield* Effect.sleep("100 millis")
        expect(yield* isPending(free)).toBe(true)
        const [visible] = (yield* sql<{ onHand: number }>`
          select on_hand from stock_levels where sku = 'FREE-1'`) as [{ onHand: number }]
        expect(visible.onHand).toBe(5)
        yield* releaseB
        expect((yield* Fiber.join(free)).onHand).toBe(6)
        expect((yield* Fiber.join(held)).onHand).toBe(6)
      })
    )

    it.effect(
      "a group whose transaction is cut answers a StoreError to each request and writes nothing",
      () =>
        Effect.gen(function* () {
          const stock = yield* Stock
          const sql = yield* SqlClient.SqlClient
          const products = yield* Products
          for (const sku of ["CUT-HELD", "CUT-1", "CUT-2"]) yield* products.add({ sku, name: sku })
          for (const sku of ["CUT-HELD", "CUT-1", "CUT-2"]) yield* stock.set({ sku, quantity: 5 })
          yield* (yield* Locations).add({ code: "cut-b" })
          const totalsBefore = yield* storeTotals
          const release = yield* holdLevel("CUT-HELD")
          const first = yield* Effect.fork(stock.adjust({ sku: "CUT-HELD", delta: 1 }))
          const firstBackend = yield* waitingBackend
          const queued = yield* Effect.all(
            [
              stock.adjust({ sku: "CUT-1", delta: 2 }),
              stock.adjust({ sku: "CUT-2", delta: -9 }), // would be refused
              stock
                .transfer({ sku: "CUT-1", quantity: 1, from: DEFAULT_LOCATION, to: "cut-b" })
                .pipe(Effect.asVoid),
              stock.set({ sku: "CUT-2", quantity: 1, idempotencyKey: "cut-key" }),
              stock.adjust({ sku: "CUT-HELD", delta: 2 }) // waits on the held level, inside the group
            ].map((write) => Effect.fork(write as Effect.Effect<unknown, unknown>))
          )
          yield* sql`select pg_terminate_backend(${firstBackend})`
          expect(
            Either.getLeft(yield* Effect.either(Fiber.join(first))).pipe(Option.getOrThrow)
          ).toBeInstanceOf(StoreError)
          // The second group has run the others and waits for the held level: cut it too.
          const secondBackend = yield* waitingBackend
          expect(secondBackend).not.toBe(firstBackend)
          for (const fiber of queued) expect(yield* isPending(fiber)).toBe(true)
          yield* sql`select pg_terminate_backend(${secondBackend})`
          for (const fiber of queued) {
            const outcome = yield* Effect.either(Fiber.join(fiber))
            expect(Either.getLeft(outcome).pipe(Option.getOrThrow)).toBeInstanceOf(StoreError)
          }
          yield* release
          expect(yield* storeTotals).toEqual(totalsBefore)
          // The store serves again, and the key is free to be used again.
          expect((yield* stock.set({ sku: "CUT-2", quantity: 1, idempotencyKey: "cut-key" })).onHand).toBe(1)
        })
    )
  })

  // Counts what the store announces after a commit that wrote events: the relay's wake in a server.
  const announced = { commits: 0 }
  const announcing = Layer.unwrapScoped(
    Effect.map(freshPostgresDatabase, (url) =>
      Inventory.layer(Store.postgres(url)).pipe(
        Layer.provide(groupCommit()),
        Layer.provide(
          Store.wakeOnEventsCommitted(
            Effect.sync(() => {
              announced.commits += 1
            })
          )
        )
      )
    )
  )
  layer(announcing, { excludeTestServices: true, timeout: "60 seconds" })("group commit, announced", (it) => {
    it.effect("a group sent as one statement is announced once, after it, as a transaction is", () =>
      Effect.gen(function* () {
        const stock = yield* Stock
        const products = yield* Products
        const skus = ["ANN-1", "ANN-2", "ANN-3"]
        for (const sku of ["ANN-HELD", ...skus]) yield* products.add({ sku, name: sku })
        for (const sku of ["ANN-HELD", ...skus]) yield* stock.set({ sku, quantity: 10 })
        const start = announced.commits
        yield* stock.adjust({ sku: "ANN-1", delta: -1 })
        expect(announced.commits - start).toBe(1)
        const outcomes = yield* asOneGroup(
          "ANN-HELD",
          skus.map((sku) => stock.adjust({ sku, delta: -2 }))
        )
        expect(outcomes.map(levelOrRefusal)).toEqual([7, 8, 8])
        // The held level's lone statement, and the group's one statement.
        expect(announced.commits - start).toBe(3)
      })
    )
  })
})
