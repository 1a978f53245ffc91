/**
 * stock-checker's HTTP handlers: stock reads through the StockCache. The cache key is the
 * endpoint and its parameters; the SKU, where there is one, lets a change drop exactly its entries.
 * What is cached is the response body: an answer loaded from the database is encoded by the
 * endpoint's success schema (as the platform would) into JSON text, and a hit is sent as that text.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Api, Reservation, type Stock } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Record from "effect/Record"
import * as Schema from "effect/Schema"
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

type StockCheck = HttpApiGroup.HttpApiGroup.Endpoints<typeof Api.StockChecks>

/** Each read endpoint's success schema as an encoder; `cached` pins the value's type per endpoint. */
const encoders = Record.map(Api.StockChecks.endpoints, (endpoint) =>
  Schema.encodeUnknown(endpoint.successSchema as Schema.Schema<unknown>)
)

/**
 * The answer of a read endpoint through the cache: `load` runs only on a miss, and its value is
 * checked and encoded there by the endpoint's success schema, as the platform would; a hit is the
 * stored JSON text, sent with the content type the platform gives a JSON answer.
 */
const cached = <Name extends StockCheck["name"], E, R>(
  endpoint: Name,
  key: { readonly name: string; readonly sku?: string },
  load: Effect.Effect<HttpApiEndpoint.HttpApiEndpoint.SuccessWithName<StockCheck, Name>, E, R>
) => {
  const encode = encoders[endpoint]!
  return Effect.flatMap(StockCache, (cache) =>
    cache.through(
      key,
      load.pipe(
        // A value from our own database that does not fit the contract is a bug: a defect, a 500.
        Effect.flatMap((value) => Effect.orDie(encode(value))),
        Effect.map((encoded) => JSON.stringify(encoded))
      )
    )
  ).pipe(Effect.map((body) => HttpServerResponse.text(body, { contentType: "application/json" })))
}

export const stockChecks = (handlers: GroupHandlers<typeof Api.StockChecks>) =>
  handlers
    .handle("level", ({ path, urlParams }) =>
      cached(
        "level",
        { name: keyOf("level", urlParams), sku: path.sku },
        stock((s) => s.level(path.sku, urlParams))
      )
    )
    .handle("list", ({ urlParams }) =>
      cached(
        "list",
        { name: keyOf("list", urlParams) },
        stock((s) => s.list(urlParams))
      )
    )
    .handle("low", ({ urlParams }) =>
      cached(
        "low",
        { name: keyOf("low", urlParams) },
        stock((s) => s.low(urlParams))
      )
    )
    .handle("overview", () =>
      cached(
        "overview",
        { name: "overview" },
        stock((s) => s.overview())
      )
    )
    .handle("history", ({ path, urlParams }) =>
      cached(
        "history",
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
