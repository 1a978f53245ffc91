/**
 * The remote client: the same `Inventory` interface as `openInventory()`, served by an
 * `inv-server` over HTTP. Derived from the shared contract (`Api.InventoryApi`) over undici.
 * Every write carries an idempotency key (the caller's, or one generated per call here), so the
 * client's own retries on connection errors, 408, 429 and 5xx never apply a change twice.
 */
import { randomUUID } from "node:crypto"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { InventoryApi } from "./Api.js"
import type { ChangeOptions, Inventory } from "./Inventory.js"
import { InvalidInput, InventoryClosed, StoreError } from "./InventoryError.js"
import * as UndiciHttpClient from "./internal/undiciHttpClient.js"
import { decodeInput } from "./internal/validation.js"
import { NewLocation } from "./Location.js"
import { allItems } from "./Page.js"
import { NewProduct, ProductPatch } from "./Product.js"
import {
  FulfilReservation,
  NewReservation,
  NewReservations,
  ReservationId,
  ReservationPatch,
  ReservationQuery
} from "./Reservation.js"
import { OrderId } from "./Restock.js"
import { AdjustStock, BatchChange, SetStock, TransferStock } from "./Stock.js"
import { NewSupplier, SupplierId, SupplierPatch } from "./Supplier.js"
import { SyncSelection } from "./SupplierSync.js"

export interface ConnectOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string
  /** Sent as `Authorization: Bearer …` when set. */
  readonly token?: string | undefined
  /** Per attempt; a timed-out attempt counts as a connection error (retried). Default: 30 000. */
  readonly timeoutMs?: number | undefined
  /** Retries after the first attempt. Default: 3. */
  readonly maxRetries?: number | undefined
  /**
   * A PEM file with a CA to trust besides the system's, for a server whose certificate it signed
   * (`openInventory` reads `INV_CA_FILE`).
   */
  readonly caFile?: string | undefined
}

export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_MAX_RETRIES = 3
const BASE_DELAY_MS = 200
const MAX_DELAY_MS = 10_000
/** A Retry-After longer than this is not waited out: the answer goes to the caller. */
const MAX_RETRY_AFTER_MS = 60_000

const IDEMPOTENCY_KEY = "idempotency-key"

const retriableStatus = (status: number) => status === 408 || status === 429 || status >= 500

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export const retryAfterMs = (value: string | undefined, now = Date.now()): number | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** Exponential backoff with jitter: between half and all of base × 2^attempt, capped. */
export const backoffMs = (attempt: number): number => {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt)
  return ceiling / 2 + Math.random() * (ceiling / 2)
}

const drain = (response: HttpClientResponse.HttpClientResponse) => Effect.ignore(response.arrayBuffer)

/**
 * The HTTP client under the contract: bearer token, an idempotency key on every write that has
 * none, a timeout per attempt, and retries. The key is set before the retry loop, so every attempt
 * of one call carries the same key.
 */
export const transformClient =
  (options: ConnectOptions) =>
  (client: HttpClient.HttpClient): HttpClient.HttpClient => {
    const timeout = Duration.millis(options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    const maxRetries = Math.max(0, options.maxRetries ?? DEFAULT_MAX_RETRIES)
    const withRetries = HttpClient.transform(client, (execute, request) => {
      const attempt = (
        n: number
      ): Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError> =>
        execute.pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () =>
              new HttpClientError.RequestError({
                request,
                reason: "Transport",
                description: `no answer within ${Duration.toMillis(timeout)} ms`
              })
          }),
          Effect.matchEffect({
            onFailure: (error) =>
              error._tag === "RequestError" && error.reason === "Transport" && n < maxRetries
                ? Effect.zipRight(Effect.sleep(Duration.millis(backoffMs(n))), attempt(n + 1))
                : Effect.fail(error),
            onSuccess: (response) => {
              if (!retriableStatus(response.status) || n >= maxRetries) return Effect.succeed(response)
              const after = retryAfterMs(response.headers["retry-after"])
              if (after !== undefined && after > MAX_RETRY_AFTER_MS) return Effect.succeed(response)
              return drain(response).pipe(
                Effect.zipRight(Effect.sleep(Duration.millis(after ?? backoffMs(n)))),
                Effect.zipRight(attempt(n + 1))
              )
            }
          })
        )
      return attempt(0)
    })
    return HttpClient.mapRequest(withRetries, (request) => {
      let next = request
      if (options.token !== undefined) next = HttpClientRequest.bearerToken(next, options.token)
      if (
        request.method !== "GET" &&
        request.method !== "HEAD" &&
        request.headers[IDEMPOTENCY_KEY] === undefined
      )
        next = HttpClientRequest.setHeader(next, IDEMPOTENCY_KEY, randomUUID())
      return next
    })
  }

/**
 * The typed Effect client for Effect users: `HttpApiClient.make(InventoryApi)` with the token,
 * idempotency keys, timeouts and retries of `connect`. Needs an `HttpClient` (e.g.
 * `FetchHttpClient.layer` from `@effect/platform`).
 */
export const makeClient = (options: ConnectOptions) =>
  Effect.map(
    HttpApiClient.make(InventoryApi, { baseUrl: options.url, transformClient: transformClient(options) }),
    encodingPathParameters
  )

/**
 * A path parameter as exactly one segment of the URL. The derived client writes parameters into
 * the path as they are, so a SKU (which may hold `/` and `.`) or an id typed with `/`, `;`, `?` or
 * `..` would name another route (`x/../SKU-1` is `/v1/products/SKU-1`); percent-encoded, it is one
 * segment, which the server decodes back. A segment that is only `.` or `..` is a step of the path
 * that URL parsing resolves whatever its encoding, so it cannot be sent: refused naming the parameter.
 */
const pathSegment = (name: string, value: unknown): Effect.Effect<unknown, InvalidInput> => {
  if (typeof value !== "string") return Effect.succeed(value) // a number: digits, one segment
  if (value === "." || value === "..")
    return Effect.fail(
      new InvalidInput({
        field: name,
        rule: `cannot be "${value}": that is a step of a URL's path, not a name`
      })
    )
  return Effect.succeed(encodeURIComponent(value))
}

/** The derived client with each endpoint's path parameters sent as one segment each (`pathSegment`). */
const encodingPathParameters = <C extends Record<string, Record<string, unknown>>>(client: C): C =>
  Object.fromEntries(
    Object.entries(client).map(([group, endpoints]) => [
      group,
      Object.fromEntries(
        Object.entries(endpoints).map(([name, endpoint]) => [
          name,
          (request?: { readonly path?: Record<string, unknown> }) => {
            const call = endpoint as (request: unknown) => Effect.Effect<unknown, unknown>
            if (request?.path === undefined) return call(request)
            return Effect.flatMap(
              Effect.forEach(Object.entries(request.path), ([key, value]) =>
                Effect.map(pathSegment(key, value), (segment) => [key, segment] as const)
              ),
              (path) => call({ ...request, path: Object.fromEntries(path) })
            )
          }
        ])
      )
    ])
  ) as C

export type Client = Effect.Effect.Success<ReturnType<typeof makeClient>>

/** What `connect` answers for the parts that run only where the store is. */
export class NotAvailableRemotely extends Error {
  readonly _tag = "NotAvailableRemotely"
  constructor(readonly operation: string) {
    super(
      `${operation} runs only where the store is: open the inventory with openInventory() (or run an inv-server worker) instead of connect()`
    )
    this.name = "NotAvailableRemotely"
  }
}

/**
 * No answer, or one the contract cannot read (a proxy's 502 page, a 503 without a body): the
 * store cannot be reached, so a StoreError, as the embedded facade rejects when its database is
 * gone. Domain errors pass through unchanged.
 */
const unreachable = <E>(url: string, error: E): E | StoreError => {
  if (HttpClientError.isHttpClientError(error)) {
    // undici's own reason (refused, reset, a certificate it does not trust) is one level down.
    const cause = (error.cause as { readonly cause?: { readonly message?: string } } | undefined)?.cause
    const detail = cause?.message ? `: ${cause.message}` : ""
    return new StoreError({
      reason: `inv-server at ${url}: ${error.reason === "Transport" ? `no answer${detail}` : `status ${"response" in error ? error.response.status : "?"}`} (${error.message})`
    })
  }
  if (ParseResult.isParseError(error))
    return new StoreError({
      reason: `inv-server at ${url} gave an answer this client cannot read: ${error.message.split("\n")[0]}`
    })
  return error
}

const keyHeaders = (options?: { readonly idempotencyKey?: string | undefined }) => ({
  [IDEMPOTENCY_KEY]: options?.idempotencyKey ?? randomUUID()
})

const dateParam = (value: unknown): string | undefined =>
  value === undefined ? undefined : value instanceof Date ? value.toISOString() : String(value)

/** Drops the options the HTTP contract does not carry (actor, key), keeping the rest. */
const withoutContext = <T extends ChangeOptions>(
  options: T | undefined
): Omit<T, "actor" | "idempotencyKey"> => {
  if (options === undefined) return {} as Omit<T, "actor" | "idempotencyKey">
  const { actor: _actor, idempotencyKey: _key, ...rest } = options
  return rest
}

/** An undici agent that trusts the system's CAs and the one in `caFile`. */
const trustingCa = async (caFile: string) => {
  const [{ Agent }, { rootCertificates }, { readFile }] = await Promise.all([
    import("undici"),
    import("node:tls"),
    import("node:fs/promises")
  ])
  const ca = await readFile(caFile, "utf8").catch((error: Error) => {
    throw new StoreError({ reason: `cannot read the CA file ${caFile} (INV_CA_FILE): ${error.message}` })
  })
  return new Agent({ connect: { ca: [...rootCertificates, ca] } })
}

/**
 * Connects to an `inv-server` (any mix of its services behind one URL). Nothing is sent until the
 * first call; undici is loaded then. Rejects with the SDK's errors (ProductNotFound,
 * InsufficientStock, …) as the embedded facade does. `sync`, `preview` and `worker` run only
 * where the store is and reject with `NotAvailableRemotely`; the actor is recorded by the server.
 */
export const connect = (options: ConnectOptions): Inventory => {
  let client: Promise<{ readonly client: Client; readonly scope: Scope.CloseableScope }> | undefined
  const ready = () => {
    client ??= (async () => {
      const layer = UndiciHttpClient.layer(
        options.caFile === undefined ? undefined : await trustingCa(options.caFile)
      )
      return Effect.runPromise(
        Effect.gen(function* () {
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(layer, scope)
          const made = yield* makeClient(options).pipe(
            Effect.provideService(HttpClient.HttpClient, Context.get(context, HttpClient.HttpClient))
          )
          return { client: made, scope }
        })
      )
    })()
    return client
  }
  let closed = false
  const run = async <A, E>(use: (client: Client) => Effect.Effect<A, E>): Promise<A> => {
    if (closed) throw new InventoryClosed()
    const exit = await Effect.runPromiseExit(
      Effect.mapError(use((await ready()).client), (error) => unreachable(options.url, error))
    )
    return Exit.match(exit, {
      onSuccess: (value) => value,
      onFailure: (cause) => {
        throw Cause.squash(cause)
      }
    })
  }
  /** Validates and fills defaults as the embedded facade does, before the derived client encodes. */
  const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown) =>
    Effect.runPromiseExit(decodeInput(schema)(input)).then(
      Exit.match({
        onSuccess: (value) => value,
        onFailure: (cause) => {
          throw Cause.squash(cause)
        }
      })
    )
  const notRemote = (operation: string) => () => Promise.reject(new NotAvailableRemotely(operation))
  /** An id checked as the embedded facade checks it: InvalidInput naming it, and nothing sent. */
  const supplierId = (id: string) => decode(Schema.Struct({ id: SupplierId }), { id }).then((_) => _.id)
  const reservationId = (id: number) => decode(Schema.Struct({ id: ReservationId }), { id }).then((_) => _.id)
  const orderId = (orderId: number) =>
    decode(Schema.Struct({ orderId: OrderId }), { orderId }).then((_) => _.orderId)

  /**
   * A stock write's input checked as the embedded facade checks it (so a bad value is InvalidInput
   * naming the field), less what the path and the headers carry and the actor, which the server
   * takes from the token.
   */
  const checkedPayload = async <A extends { readonly sku: string }, I>(
    schema: Schema.Schema<A, I>,
    input: unknown
  ): Promise<Omit<A, "sku" | "actor" | "idempotencyKey">> => {
    const {
      sku: _sku,
      actor: _actor,
      idempotencyKey: _key,
      ...payload
    } = (await decode(schema, input)) as A & {
      readonly actor?: unknown
      readonly idempotencyKey?: unknown
    }
    return payload
  }

  const productList: Inventory["products"]["list"] = (query = {}) =>
    run((c) => c.catalog.listProducts({ urlParams: query }))
  const stockList: Inventory["stock"]["list"] = (query = {}) =>
    run((c) => c.stockChecks.list({ urlParams: query }))
  const lowStock: Inventory["stock"]["low"] = (query = {}) =>
    run((c) => c.stockChecks.low({ urlParams: query }))
  const reservationList: Inventory["reservations"]["list"] = async (query = {}) => {
    const urlParams = await decode(ReservationQuery, query)
    return run((c) => c.reservationChecks.list({ urlParams }))
  }

  /** A hold's expiry, checked, as the wire carries it: seconds, or an ISO moment. */
  const wireExpiry = (request: {
    readonly expiresIn?: number | undefined
    readonly expiresAt?: Date | undefined
  }) => ({
    ...(request.expiresIn === undefined ? {} : { expiresIn: request.expiresIn }),
    ...(request.expiresAt === undefined ? {} : { expiresAt: request.expiresAt.toISOString() })
  })

  return {
    store: `inv-server at ${options.url}`,
    products: {
      add: async (product) => {
        const payload = await decode(NewProduct, product)
        return run((c) => c.catalog.addProduct({ payload, headers: keyHeaders() }))
      },
      get: (sku) => run((c) => c.catalog.getProduct({ path: { sku } })),
      update: async (sku, patch) => {
        const payload = await decode(ProductPatch, patch)
        return run((c) => c.catalog.updateProduct({ path: { sku }, payload, headers: keyHeaders() }))
      },
      archive: (sku) => run((c) => c.catalog.archiveProduct({ path: { sku }, headers: keyHeaders() })),
      list: productList,
      all: (query = {}) => allItems(productList, query)
    },
    locations: {
      add: async (location) => {
        const payload = await decode(NewLocation, location)
        return run((c) => c.catalog.addLocation({ payload, headers: keyHeaders() }))
      },
      list: () => run((c) => c.catalog.listLocations()).then((answer) => answer.items)
    },
    stock: {
      set: async (sku, quantity, options) => {
        const payload = await checkedPayload(SetStock, { ...options, sku, quantity })
        return run((c) => c.stockUpdates.set({ path: { sku }, payload, headers: keyHeaders(options) }))
      },
      adjust: async (sku, delta, options) => {
        const payload = await checkedPayload(AdjustStock, { ...options, sku, delta })
        return run((c) => c.stockUpdates.adjust({ path: { sku }, payload, headers: keyHeaders(options) }))
      },
      transfer: async (sku, quantity, options) => {
        const payload = await checkedPayload(TransferStock, { ...options, sku, quantity })
        return run((c) => c.stockUpdates.transfer({ path: { sku }, payload, headers: keyHeaders(options) }))
      },
      batch: async (changes, options) => {
        const decoded = await decode(Schema.Array(BatchChange), changes)
        return run((c) =>
          c.stockUpdates.batch({
            payload: { ...withoutContext(options), changes: decoded },
            headers: keyHeaders(options)
          })
        )
      },
      level: (sku, query) => run((c) => c.stockChecks.level({ path: { sku }, urlParams: query ?? {} })),
      list: stockList,
      all: (query = {}) => allItems(stockList, query),
      low: lowStock,
      allLow: (query = {}) => allItems(lowStock, query),
      overview: () => run((c) => c.stockChecks.overview()),
      history: (sku, query = {}) =>
        run((c) =>
          c.stockChecks.history({
            path: { sku },
            urlParams: { ...query, until: dateParam(query.until) }
          })
        )
    },
    reservations: {
      create: async (reservation) => {
        const request = await decode(NewReservation, reservation)
        return run((c) =>
          c.reservationWrites.create({
            payload: {
              sku: request.sku,
              quantity: request.quantity,
              location: request.location,
              reference: request.reference,
              ...wireExpiry(request)
            },
            headers: keyHeaders(request)
          })
        )
      },
      createMany: async (reservations) => {
        const request = await decode(NewReservations, reservations)
        return run((c) =>
          c.reservationWrites.createMany({
            payload: { items: request.items, reference: request.reference, ...wireExpiry(request) },
            headers: keyHeaders(request)
          })
        )
      },
      get: async (id) => {
        const path = { id: await reservationId(id) }
        return run((c) => c.reservationChecks.get({ path }))
      },
      list: reservationList,
      all: (query = {}) => allItems(reservationList, query),
      update: async (id, patch) => {
        const path = { id: await reservationId(id) }
        const request = await decode(ReservationPatch, patch)
        return run((c) =>
          c.reservationWrites.update({
            path,
            payload: {
              ...(request.quantity === undefined ? {} : { quantity: request.quantity }),
              ...(request.noExpiry === undefined ? {} : { noExpiry: request.noExpiry }),
              ...wireExpiry(request)
            },
            headers: keyHeaders(request)
          })
        )
      },
      release: async (id, options = {}) => {
        const path = { id: await reservationId(id) }
        return run((c) => c.reservationWrites.release({ path, headers: keyHeaders(options) }))
      },
      fulfil: async (id, options = {}) => {
        const path = { id: await reservationId(id) }
        const request = await decode(FulfilReservation, options)
        return run((c) =>
          c.reservationWrites.fulfil({
            path,
            payload: request.quantity === undefined ? {} : { quantity: request.quantity },
            headers: keyHeaders(request)
          })
        )
      },
      sweepExpired: notRemote("reservations.sweepExpired (the server's sync worker sweeps expired holds)")
    },
    suppliers: {
      add: async (supplier) => {
        const payload = await decode(NewSupplier, supplier)
        return run((c) => c.suppliers.add({ payload, headers: keyHeaders() }))
      },
      get: async (id) => {
        const path = { id: await supplierId(id) }
        return run((c) => c.suppliers.get({ path }))
      },
      update: async (id, patch) => {
        const path = { id: await supplierId(id) }
        const payload = await decode(SupplierPatch, patch)
        return run((c) => c.suppliers.update({ path, payload, headers: keyHeaders() }))
      },
      list: (query = {}) => run((c) => c.suppliers.list({ urlParams: query })),
      remove: async (id) => {
        const path = { id: await supplierId(id) }
        await run((c) => c.suppliers.remove({ path, headers: keyHeaders() }))
      },
      items: async (id, query = {}) => {
        const path = { id: await supplierId(id) }
        return run((c) => c.suppliers.items({ path, urlParams: query }))
      },
      sync: notRemote("suppliers.sync (a sync run in this process; use suppliers.enqueue)"),
      syncMany: async (selection) => {
        // Checked as the embedded store checks it; the contract refuses a property it does not declare.
        const payload = await decode(SyncSelection, selection)
        return run((c) => c.suppliers.syncMany({ payload }))
      },
      runs: async (id, query = {}) => {
        const path = { id: await supplierId(id) }
        return run((c) => c.suppliers.runs({ path, urlParams: query }))
      },
      preview: notRemote("suppliers.preview"),
      enqueue: async (id) => {
        const path = { id: await supplierId(id) }
        return run((c) => c.suppliers.sync({ path })).then((answer) => answer.jobId)
      },
      worker: notRemote("suppliers.worker")
    },
    restock: {
      list: (query = {}) => run((c) => c.restock.list({ urlParams: query })),
      get: async (id) => {
        const path = { id: await orderId(id) }
        return run((c) => c.restock.get({ path }))
      },
      submit: async (id) => {
        const path = { id: await orderId(id) }
        return run((c) => c.restock.submit({ path, headers: keyHeaders() }))
      },
      receive: async (id, options = {}) => {
        const path = { id: await orderId(id) }
        return run((c) =>
          c.restock.receive({
            path,
            payload: {
              ...(options.quantity === undefined ? {} : { quantity: options.quantity }),
              ...(options.allowOverDelivery === undefined
                ? {}
                : { allowOverDelivery: options.allowOverDelivery })
            },
            headers: keyHeaders(options)
          })
        )
      },
      cancel: async (id) => {
        const path = { id: await orderId(id) }
        return run((c) => c.restock.cancel({ path, headers: keyHeaders() }))
      },
      explain: (sku, query) =>
        run((c) => c.restock.explain({ path: { sku }, urlParams: query ?? {} })).then(
          (answer) => answer.items
        )
    },
    close: async () => {
      closed = true
      const made = client
      client = undefined
      // A client that never opened (an unreadable CA file) has nothing to close: its calls
      // already rejected with the reason.
      const opened = await made?.catch(() => undefined)
      if (opened) await Effect.runPromise(Scope.close(opened.scope, Exit.void))
    }
  }
}
