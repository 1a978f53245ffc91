/**
 * Supplier catalogs served on loopback, in the shapes real suppliers use: JSON with the key in
 * a header, JSON with the key in the query, and CSV. The `inv` processes fetch from here.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export const acmeKey = "acme-secret-1"
export const boltKey = "bolt-secret-2"

const acmeCatalog = {
  products: [
    { id: "AC-1", name: "Anvil", inventory: 12, price: 19.5 },
    { id: "AC-2", name: "Rocket skates", inventory: 3, price: 120 },
    { id: "AC-3", name: "Bird seed", inventory: 0, price: 2.25 }
  ]
}

// The second item's stock count is no number: the sync must skip it and say why.
const boltCatalog = {
  items: [
    { product_id: "B-10", product_name: "Hex bolt", stock_count: 500, wholesale_price: 0.12 },
    { product_id: "B-11", product_name: "Carriage bolt", stock_count: "plenty", wholesale_price: 0.2 },
    { product_id: "B-12", product_name: "Wing nut", stock_count: 80, wholesale_price: 0.08 }
  ]
}

export const csvCatalog = "sku,title,qty,cost,pack\nW-100,Widget,50,2.50,6\nW-200,Gadget,0,1.00,1\n"

export interface SupplierFeeds {
  /** e.g. http://127.0.0.1:40123 */
  readonly baseUrl: string
  readonly close: () => Promise<void>
}

const answer = (response: ServerResponse, status: number, type: string, body: string) => {
  response.writeHead(status, { "content-type": type })
  response.end(body)
}

const route = (request: IncomingMessage, response: ServerResponse) => {
  const url = new URL(request.url ?? "/", "http://127.0.0.1")
  const json = (body: unknown) => answer(response, 200, "application/json", JSON.stringify(body))
  const unauthorized = () => answer(response, 401, "application/json", '{"error":"bad key"}')
  switch (url.pathname) {
    case "/acme/catalog":
      return request.headers["x-api-key"] === acmeKey ? json(acmeCatalog) : unauthorized()
    case "/bolt/feed":
      return url.searchParams.get("api_key") === boltKey ? json(boltCatalog) : unauthorized()
    case "/csvco/catalog.csv":
      return answer(response, 200, "text/csv", csvCatalog)
    default:
      return answer(response, 404, "text/plain", "not found")
  }
}

export const startSupplierFeeds = async (): Promise<SupplierFeeds> => {
  const server = createServer(route)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve()))
  }
}
