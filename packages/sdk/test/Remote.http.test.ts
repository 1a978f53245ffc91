/**
 * The remote client's HTTP layer (`@effect/platform`'s fetch client over undici, since issue 16),
 * against plain HTTP servers on loopback: what it sends where, what it reports, what it leaves open.
 */
import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { InventoryClosed, StoreError } from "../src/InventoryError.js"
import { connect } from "../src/Remote.js"

const servers: Array<Server> = []
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

/** A loopback server that records each request and answers with `answer`. */
const serve = async (
  answer: (request: IncomingMessage, respond: (status: number, headers?: object) => void) => void
) => {
  const requests: Array<{ path: string; authorization: string | undefined }> = []
  const server = createServer((request, response) => {
    requests.push({ path: request.url ?? "", authorization: request.headers.authorization })
    request.resume()
    answer(request, (status, headers = {}) => {
      response.writeHead(status, { "content-type": "application/json", ...headers })
      response.end(status === 200 ? JSON.stringify({ ok: true }) : "")
    })
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { server, requests, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`)
    },
    (error: unknown) => error
  )

describe("the remote client over HTTP", () => {
  it("answers a redirect without following it, so the token stays with the server it was given for", async () => {
    const elsewhere = await serve((_, respond) => respond(200))
    const redirecting = await serve((_, respond) =>
      respond(302, { location: `${elsewhere.url}/v1/products/A` })
    )
    const inventory = connect({ url: redirecting.url, token: "secret-token", maxRetries: 0 })
    try {
      const error = await rejection(inventory.products.get("A"))
      expect(error).toBeInstanceOf(StoreError)
      expect((error as StoreError).message).toContain("status 302")
      expect(redirecting.requests).toEqual([{ path: "/v1/products/A", authorization: "Bearer secret-token" }])
      expect(elsewhere.requests).toEqual([])
    } finally {
      await inventory.close()
    }
  })

  it("names the connection's own failure when nothing listens", async () => {
    const gone = await serve((_, respond) => respond(200))
    const { url } = gone
    servers.splice(servers.indexOf(gone.server), 1)
    await new Promise((resolve) => gone.server.close(resolve))
    const inventory = connect({ url, maxRetries: 0 })
    try {
      const error = await rejection(inventory.stock.level("A"))
      expect(error).toBeInstanceOf(StoreError)
      expect((error as StoreError).message).toMatch(/no answer: connect ECONNREFUSED/)
    } finally {
      await inventory.close()
    }
  })

  it("closes its connections on close(), leaving nothing to keep the process alive", async () => {
    const server = await serve((_, respond) => respond(404))
    const inventory = connect({ url: server.url, maxRetries: 0 })
    await rejection(inventory.products.get("A"))
    const open = () =>
      new Promise<number>((resolve, reject) =>
        server.server.getConnections((error, count) => (error ? reject(error) : resolve(count)))
      )
    // undici keeps the connection for the next request…
    expect(await open()).toBe(1)
    await inventory.close()
    // …until close(), which destroys the client's own pool (the server sees the socket end).
    await expect.poll(open, { timeout: 2_000 }).toBe(0)
    expect(await rejection(inventory.products.get("A"))).toBeInstanceOf(InventoryClosed)
  })

  it("refuses a CA file it cannot read with a StoreError that names INV_CA_FILE, sending nothing", async () => {
    const server = await serve((_, respond) => respond(200))
    const inventory = connect({ url: server.url, caFile: "/nonexistent/ca.pem", maxRetries: 0 })
    try {
      const error = await rejection(inventory.products.get("A"))
      expect(error).toBeInstanceOf(StoreError)
      expect((error as StoreError).message).toContain(
        "cannot read the CA file /nonexistent/ca.pem (INV_CA_FILE)"
      )
      expect(server.requests).toEqual([])
    } finally {
      await inventory.close()
    }
  })
})
