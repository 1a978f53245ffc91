/** stock-updater's HTTP handlers: stock writes, each mapped straight onto the SDK's `Stock`. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Api, Stock } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import { type GroupHandlers, withActor } from "../http/groupHandlers.js"
import { invalidateHere } from "../infra/cache.js"
import { withStore } from "../infra/storeConnection.js"

/** Runs `use` with the store's `Stock` and the request's actor (the token's subject). */
const stock = <A, E>(
  skus: Iterable<string>,
  use: (stock: Stock.Stock, actor: string) => Effect.Effect<A, E>
) =>
  withActor((actor) => withStore(Effect.flatMap(Stock.Stock, (s) => use(s, actor)))).pipe(
    Effect.tap(() => invalidateHere(skus))
  )

export const stockUpdates = (handlers: GroupHandlers<typeof Api.StockUpdates>) =>
  handlers
    .handle("set", ({ path, payload, headers }) =>
      stock([path.sku], (s, actor) =>
        s.set({ ...payload, sku: path.sku, actor, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("adjust", ({ path, payload, headers }) =>
      stock([path.sku], (s, actor) =>
        s.adjust({ ...payload, sku: path.sku, actor, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("transfer", ({ path, payload, headers }) =>
      stock([path.sku], (s, actor) =>
        s.transfer({ ...payload, sku: path.sku, actor, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("batch", ({ payload, headers }) =>
      stock(
        // A dry run changes nothing, so it leaves the cache alone.
        payload.dryRun === true ? [] : payload.changes.map((change) => change.sku),
        (s, actor) => s.batch({ ...payload, actor, idempotencyKey: headers["idempotency-key"] })
      )
    )

export const layer = HttpApiBuilder.group(Api.StockUpdaterApi, "stockUpdates", stockUpdates)
