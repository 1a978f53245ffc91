/**
 * stock-updater's HTTP handlers: stock writes and reservation writes, each mapped straight onto the
 * SDK's `Stock` and `Reservations`.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Api, Reservation, Stock } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type GroupHandlers, withActor } from "../http/groupHandlers.js"
import { invalidateHere } from "../infra/cache.js"
import { withStoreService } from "../infra/storeConnection.js"
import { reservationChecks } from "../stockChecker/handlers.js"

/** Runs `use` with the store's `Stock` and the request's actor (the token's subject). */
const stock = <A, E>(
  skus: Iterable<string>,
  use: (stock: Stock.Stock, actor: string) => Effect.Effect<A, E>
) =>
  withActor((actor) => withStoreService(Stock.Stock, (s) => use(s, actor))).pipe(
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

/** Runs `use` with the store's `Reservations` and the request's actor; drops this process's cached answers of the SKUs changed. */
const reservations = <A extends { readonly sku: string } | Reservation.ReservationList, E>(
  use: (holds: Reservation.Reservations, actor: string) => Effect.Effect<A, E>
) =>
  withActor((actor) => withStoreService(Reservation.Reservations, (holds) => use(holds, actor))).pipe(
    Effect.tap((result) =>
      invalidateHere("reservations" in result ? result.reservations.map((r) => r.sku) : [result.sku])
    )
  )

export const reservationWrites = (handlers: GroupHandlers<typeof Api.ReservationWrites>) =>
  handlers
    .handle("create", ({ payload, headers }) =>
      reservations((holds, actor) =>
        holds.create({ ...payload, actor, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("createMany", ({ payload, headers }) =>
      reservations((holds, actor) =>
        holds.createMany({ ...payload, actor, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("update", ({ path, payload, headers }) =>
      reservations((holds, actor) =>
        holds.update(path.id, { ...payload, actor, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("release", ({ path, headers }) =>
      reservations((holds, actor) =>
        holds.release(path.id, { actor, idempotencyKey: headers["idempotency-key"] })
      )
    )
    .handle("fulfil", ({ path, payload, headers }) =>
      reservations((holds, actor) =>
        holds.fulfil(path.id, { ...payload, actor, idempotencyKey: headers["idempotency-key"] })
      )
    )

export const layer = Layer.mergeAll(
  HttpApiBuilder.group(Api.StockUpdaterApi, "stockUpdates", stockUpdates),
  HttpApiBuilder.group(Api.StockUpdaterApi, "reservationWrites", reservationWrites),
  // GET /v1/reservations shares its path with POST: a gateway that routes by path alone (an
  // Ingress) sends both here. Reservations are read uncached from the primary in either service.
  HttpApiBuilder.group(Api.StockUpdaterApi, "reservationChecks", reservationChecks)
)
