/**
 * stock-checker's HTTP handlers: stock reads through the StockCache. The cache key is the
 * endpoint and its parameters; the SKU, where there is one, lets a change drop exactly its entries.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Api, Reservation, type Stock } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { GroupHandlers } from "../http/groupHandlers.js"
import { StockCache } from "../infra/cache.js"
import { StockReads } from "../infra/readReplica.js"
import { withStore } from "../infra/storeConnection.js"

/** A read on the read replica when one is configured, else on the primary. */
const stock = <A, E>(use: (stock: Stock.Stock) => Effect.Effect<A, E>) =>
  Effect.flatMap(StockReads, (reads) => reads.read(use))

/** A stable key for a request's parameters (the same parameters in any order give the same key). */
const keyOf = (endpoint: string, params: object) =>
  `${endpoint}?${new URLSearchParams(
    Object.entries(params)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => [key, String(value)] as [string, string])
      .sort(([a], [b]) => a.localeCompare(b))
  ).toString()}`

const cached = <A, E, R>(
  key: { readonly name: string; readonly sku?: string },
  load: Effect.Effect<A, E, R>
) => Effect.flatMap(StockCache, (cache) => cache.through(key, load))

export const stockChecks = (handlers: GroupHandlers<typeof Api.StockChecks>) =>
  handlers
    .handle("level", ({ path, urlParams }) =>
      cached(
        { name: keyOf("level", urlParams), sku: path.sku },
        stock((s) => s.level(path.sku, urlParams))
      )
    )
    .handle("list", ({ urlParams }) =>
      cached(
        { name: keyOf("list", urlParams) },
        stock((s) => s.list(urlParams))
      )
    )
    .handle("low", ({ urlParams }) =>
      cached(
        { name: keyOf("low", urlParams) },
        stock((s) => s.low(urlParams))
      )
    )
    .handle("overview", () =>
      cached(
        { name: "overview" },
        stock((s) => s.overview())
      )
    )
    .handle("history", ({ path, urlParams }) =>
      cached(
        { name: keyOf("history", urlParams), sku: path.sku },
        stock((s) => s.history(path.sku, urlParams))
      )
    )

/**
 * Reservations are read from the primary, uncached: a hold's status changes with the clock (it
 * expires), and a caller reads back the hold it has just placed.
 */
const holds = <A, E>(use: (holds: Reservation.Reservations) => Effect.Effect<A, E>) =>
  withStore(Effect.flatMap(Reservation.Reservations, use))

export const reservationChecks = (handlers: GroupHandlers<typeof Api.ReservationChecks>) =>
  handlers
    .handle("list", ({ urlParams }) => holds((h) => h.list(urlParams)))
    .handle("get", ({ path }) => holds((h) => h.get(path.id)))

export const layer = Layer.mergeAll(
  HttpApiBuilder.group(Api.StockCheckerApi, "stockChecks", stockChecks),
  HttpApiBuilder.group(Api.StockCheckerApi, "reservationChecks", reservationChecks)
)
