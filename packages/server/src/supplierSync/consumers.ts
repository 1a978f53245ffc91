/**
 * supplier-sync's consumer: a `stock.updated` whose level the event says is at or below its
 * reorder point (or that does not say; only those are sent here, under `Event.REORDER_ROUTE`)
 * evaluates the reorder rule for its SKU and location, which
 * opens a draft restock order when available stock is at or below the reorder point; a
 * `stock.imported` does the same for each level it lists that is now at or below it. The rule
 * reads the current state, so an older event arriving late decides from fresh
 * data; the inbox makes a redelivered event a no-op. Invalid data is a permanent failure: the
 * event goes to the dead-letter queue with the reason. The events the broker sent ahead are
 * handled together, in one transaction (see `evaluate`); if that fails, each is handled alone.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Event, Reorder } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { type Consumer, eventData } from "../infra/events.js"
import { onceEach } from "../infra/inbox.js"
import type { PermanentFailure } from "../infra/redelivery.js"

/** The consumer group, and so the queue `invkit.supplier-sync`. */
export const CONSUMER_NAME = "supplier-sync"

const decodeStockUpdated = eventData(Event.StockUpdated)
const decodeStockImported = eventData(Event.StockImported)

interface Level {
  readonly sku: string
  readonly location: string
}

/** The levels an event asks the rule about, or none when the event says its level is above the point. */
const levelsOf = (event: Event.CloudEvent): Effect.Effect<ReadonlyArray<Level>, PermanentFailure> =>
  event.type === "stock.imported"
    ? Effect.map(decodeStockImported(event), ({ levels }) => levels)
    : Effect.map(decodeStockUpdated(event), (change) =>
        // Left above its reorder point, the level orders nothing: no transaction, no inbox row (a
        // redelivery skips it the same way). A later change that brings it down has its own event.
        Event.leftAboveReorderPoint(change) ? [] : [{ sku: change.sku, location: change.location }]
      )

export const consumers: Effect.Effect<ReadonlyArray<Consumer>, SqlError, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient
    const rule = yield* Effect.provide(Reorder.ReorderRule, Reorder.ReorderRule.Default)
    /**
     * The events the broker sent ahead, in one transaction: one inbox statement records them all,
     * and the rule runs once per level they name (it decides from the current state, so once after
     * several changes decides as the last of them would), for the levels at or below the point.
     * An event with invalid data fails the batch after the others committed: each is then handled
     * alone, where the inbox skips those done here and the invalid one is dead-lettered by itself.
     */
    const evaluate = (events: ReadonlyArray<Event.CloudEvent>) =>
      Effect.gen(function* () {
        const asking = new Map<Event.CloudEvent, ReadonlyArray<Level>>()
        let invalid: PermanentFailure | undefined
        for (const event of events) {
          const levels = yield* Effect.either(levelsOf(event))
          if (Either.isLeft(levels)) invalid ??= levels.left
          else if (levels.right.length > 0) asking.set(event, levels.right)
        }
        if (asking.size > 0) {
          yield* onceEach(CONSUMER_NAME, [...asking.keys()], (fresh) => {
            const levels = new Map<string, Level>()
            for (const event of fresh) {
              for (const level of asking.get(event)!) {
                levels.set(JSON.stringify([level.sku, level.location]), level)
              }
            }
            return rule.evaluateAll([...levels.values()])
          })
        }
        if (invalid !== undefined) return yield* invalid
      }).pipe(Effect.provideService(SqlClient.SqlClient, sql))
    return [
      {
        name: CONSUMER_NAME,
        types: ["stock.updated", "stock.imported"],
        // Of the `stock.updated` events, only those not left above their reorder point are sent
        // here (most changes are not): the rest cost a delivery each and did nothing.
        routes: [Event.REORDER_ROUTE, "stock.imported"],
        handle: (event) => evaluate([event]),
        handleBatch: evaluate
      }
    ]
  }
)
