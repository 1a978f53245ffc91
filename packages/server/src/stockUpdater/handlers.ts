/** stock-updater's HTTP handlers: stock writes, each mapped straight onto the SDK's `Stock`. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Api, Stock } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import { ACTOR, type GroupHandlers } from "../http/groupHandlers.js"
import { withStore } from "../infra/storeConnection.js"

const stock = <A, E>(use: (stock: Stock.Stock) => Effect.Effect<A, E>) =>
  withStore(Effect.flatMap(Stock.Stock, use))

export const stockUpdates = (handlers: GroupHandlers<typeof Api.StockUpdates>) =>
  handlers
    .handle("set", ({ path, payload, headers }) =>
      stock((s) =>
        s.set({ ...payload, sku: path.sku, actor: ACTOR, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("adjust", ({ path, payload, headers }) =>
      stock((s) =>
        s.adjust({ ...payload, sku: path.sku, actor: ACTOR, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("transfer", ({ path, payload, headers }) =>
      stock((s) =>
        s.transfer({ ...payload, sku: path.sku, actor: ACTOR, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("batch", ({ payload, headers }) =>
      stock((s) => s.batch({ ...payload, actor: ACTOR, idempotencyKey: headers["idempotency-key"] }))
    )

export const layer = HttpApiBuilder.group(Api.StockUpdaterApi, "stockUpdates", stockUpdates)
