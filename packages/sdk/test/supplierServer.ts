/**
 * A supplier's catalog API for the tests: a real HTTP server on loopback (127.0.0.1, a free
 * port), speaking the catalog shapes of the original system:
 *
 * - `GET /products`: `{"products":[{"id","name","inventory","price"}]}`, key in the `X-API-Key` header;
 * - `GET /items`: `{"items":[{"product_id","product_name","stock_count","wholesale_price"}]}`, key in `?api_key=`;
 * - `GET /catalog.csv`: `sku,title,qty,cost,moq,pack`, key in the `X-API-Key` header.
 *
 * A wrong or missing key answers 401, an unknown path 404. Faults can be scripted for the next
 * requests (`failNext`) or for all of them (`failAlways`): a status (with Retry-After), a hang
 * past any timeout, or an answer that is not JSON. Every request is logged with its time.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import type { NewSupplier } from "../src/Supplier.js"

export const API_KEY = "test-key-7f3a"

/** One catalog entry in neutral terms; each endpoint renders it in its own shape. */
export interface CatalogEntry {
  readonly sku: string
  readonly name?: string
  readonly availability?: number | string
  readonly price?: number | string
  readonly minOrderQty?: number
  readonly packSize?: number
}

export type Fault =
  | { readonly status: number; readonly retryAfter?: string }
  /** Accept the request and never answer it (until the server closes). */
  | { readonly hang: true }
  /** Answer 200 with a body that is not JSON. */
  | { readonly malformed: true }

export interface LoggedRequest {
  readonly path: string
  /** `Date.now()` when the request arrived. */
  readonly at: number
  readonly status: number | "hung"
}

export interface SupplierServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** What the endpoints serve; replace it between syncs. */
  catalog: ReadonlyArray<CatalogEntry>
  /** When set, the JSON endpoints serve this value as their whole answer instead of the catalog. */
  rawJson: unknown
  readonly requests: ReadonlyArray<LoggedRequest>
  /** The next `count` requests meet `fault`, then the server answers normally again. */
  failNext(count: number, fault: Fault): void
  /** Every request meets `fault` until `recover()`. */
  failAlways(fault: Fault): void
  recover(): void
  /** Resolves at the next request that arrives (logged or hung). */
  nextRequest(): Promise<LoggedRequest>
  close(): Promise<void>
}

const renderProducts = (catalog: ReadonlyArray<CatalogEntry>) => ({
  products: catalog.map((e) => ({
    id: e.sku,
    name: e.name,
    inventory: e.availability,
    price: e.price,
    ...(e.minOrderQty === undefined ? {} : { moq: e.minOrderQty }),
    ...(e.packSize === undefined ? {} : { pack: e.packSize })
  }))
})

const renderItems = (catalog: ReadonlyArray<CatalogEntry>) => ({
  items: catalog.map((e) => ({
    product_id: e.sku,
    product_name: e.name,
    stock_count: e.availability,
    wholesale_price: e.price
  }))
})

const csvCell = (value: unknown) => {
  const text = value === undefined ? "" : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/** With a BOM and CRLF line ends, as spreadsheet exports have them. */
export const renderCsv = (catalog: ReadonlyArray<CatalogEntry>) =>
  "\uFEFF" +
  ["sku,title,qty,cost,moq,pack"]
    .concat(
      catalog.map((e) =>
        [e.sku, e.name, e.availability, e.price, e.minOrderQty, e.packSize].map(csvCell).join(",")
      )
    )
    .join("\r\n") +
  "\r\n"

export const startSupplierServer = async (
  catalog: ReadonlyArray<CatalogEntry> = []
): Promise<SupplierServer> => {
  const requests: Array<LoggedRequest> = []
  const scripted: Array<Fault> = []
  let always: Fault | undefined
  let waiters: Array<(request: LoggedRequest) => void> = []

  const log = (request: LoggedRequest) => {
    requests.push(request)
    const waiting = waiters
    waiters = []
    for (const resolve of waiting) resolve(request)
  }

  const answer = (
    res: ServerResponse,
    path: string,
    at: number,
    status: number,
    body: string,
    type: string
  ) => {
    res.writeHead(status, { "content-type": type })
    res.end(body)
    log({ path, at, status })
  }

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const at = Date.now()
    const url = new URL(req.url ?? "/", "http://127.0.0.1")
    const path = url.pathname
    const fault = scripted.shift() ?? always
    if (fault !== undefined) {
      if ("hang" in fault) return log({ path, at, status: "hung" })
      if ("malformed" in fault)
        return answer(res, path, at, 200, '{"products": [{"id": "A-1",', "application/json")
      res.writeHead(fault.status, fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter })
      res.end(`fault ${fault.status}`)
      return log({ path, at, status: fault.status })
    }
    const headerKey = req.headers["x-api-key"]
    const queryKey = url.searchParams.get("api_key")
    const json = (body: unknown) =>
      answer(res, path, at, 200, JSON.stringify(server.rawJson ?? body), "application/json")
    if (path === "/products") {
      if (headerKey !== API_KEY) return answer(res, path, at, 401, "bad key", "text/plain")
      return json(renderProducts(server.catalog))
    }
    if (path === "/items") {
      if (queryKey !== API_KEY) return answer(res, path, at, 401, "bad key", "text/plain")
      return json(renderItems(server.catalog))
    }
    if (path === "/catalog.csv") {
      if (headerKey !== API_KEY) return answer(res, path, at, 401, "bad key", "text/plain")
      return answer(res, path, at, 200, renderCsv(server.catalog), "text/csv")
    }
    return answer(res, path, at, 404, "no such path", "text/plain")
  }

  const http = createServer(handle)
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject)
    http.listen(0, "127.0.0.1", () => resolve())
  })
  const { port } = http.address() as AddressInfo

  const server: SupplierServer = {
    url: `http://127.0.0.1:${port}`,
    catalog,
    rawJson: undefined,
    requests,
    failNext: (count, fault) => {
      for (let i = 0; i < count; i++) scripted.push(fault)
    },
    failAlways: (fault) => {
      always = fault
    },
    recover: () => {
      always = undefined
      scripted.length = 0
    },
    nextRequest: () => new Promise((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise((resolve) => {
        // Hung requests hold their sockets open: drop them, or close would wait for ever.
        http.closeAllConnections()
        http.close(() => resolve())
      })
  }
  return server
}

/** A server for the length of the enclosing scope (an `it.scoped` test, usually). */
export const supplierServer = (catalog: ReadonlyArray<CatalogEntry> = []) =>
  Effect.acquireRelease(
    Effect.promise(() => startSupplierServer(catalog)),
    (server) => Effect.promise(() => server.close())
  )

/** A loopback URL on which nothing listens: a port that was free a moment ago. */
export const refusingUrl = async (): Promise<string> => {
  const http = createServer()
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", () => resolve()))
  const { port } = http.address() as AddressInfo
  await new Promise<void>((resolve) => http.close(() => resolve()))
  return `http://127.0.0.1:${port}/products`
}

type ConnectorInput = NewSupplier["connector"]
type HttpJsonInput = Extract<ConnectorInput, { type: "http-json" }>

/** The `{"products": …}` shape, with the key in the X-API-Key header. */
export const productsConnector = (
  server: SupplierServer,
  overrides: Partial<HttpJsonInput> = {}
): HttpJsonInput => ({
  type: "http-json",
  url: `${server.url}/products`,
  itemsPath: "products",
  fields: { supplierSku: "id", name: "name", availability: "inventory", unitCost: "price" },
  apiKey: { in: "header", name: "X-API-Key", value: API_KEY },
  ...overrides
})

/** The `{"items": …}` shape, with the key in the `api_key` query parameter. */
export const itemsConnector = (server: SupplierServer): HttpJsonInput => ({
  type: "http-json",
  url: `${server.url}/items`,
  itemsPath: "items",
  fields: {
    supplierSku: "product_id",
    name: "product_name",
    availability: "stock_count",
    unitCost: "wholesale_price"
  },
  apiKey: { in: "query", name: "api_key", value: API_KEY }
})

export const csvColumns = {
  supplierSku: "sku",
  name: "title",
  availability: "qty",
  unitCost: "cost",
  minOrderQty: "moq",
  packSize: "pack"
} as const
