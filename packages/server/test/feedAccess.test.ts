/**
 * What a supplier connector may reach from a server: feed files only under INV_FEED_DIR (real
 * paths, so `..` and symbolic links cannot lead out), HTTP feeds only from public addresses
 * unless INV_FEED_ALLOW_PRIVATE allows private ones, and a failed fetch's error that never
 * quotes the answer. Each case is a real sync run through supplier-sync's worker.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { SupplierSync } from "@invkit/sdk"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { describeConfigError } from "../src/config.js"
import { eventually } from "./serviceProcesses.js"
import { postgresReachable, readConfig, startAllOnFreshDatabase } from "./utils.js"

const reachable = await postgresReachable()

const CATALOG = "code,cost\nA-1,2.5\n"
const SECRET = "root:x:0:0:secret-body-text"

/** A feed server on loopback: `/catalog` a JSON catalog, `/broken` a 500 and `/metrics` plain text. */
const feedServer = async () => {
  const server: Server = createServer((request, response) => {
    if (request.url === "/catalog") {
      response.writeHead(200, { "content-type": "application/json" })
      response.end(JSON.stringify({ items: [{ id: "A-1" }] }))
    } else if (request.url === "/broken") {
      response.writeHead(500, { "content-type": "text/plain" }).end(SECRET)
    } else {
      response.writeHead(200, { "content-type": "text/plain" }).end(`# HELP ${SECRET}\n`)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const csv = (source: string) => ({ type: "csv", source, columns: { supplierSku: "code", unitCost: "cost" } })
const http = (url: string) => ({ type: "http-json", url, itemsPath: "items", fields: { supplierSku: "id" } })

/** `inv-server all` with `feeds`, and a helper that adds a supplier and answers its first run. */
const serverWith = async (feeds: SupplierSync.FeedRules, cleanups: Array<() => Promise<unknown>>) => {
  const server = await startAllOnFreshDatabase({ feeds })
  cleanups.unshift(server.stop)
  let suppliers = 0
  return async (connector: Record<string, unknown>) => {
    const id = `feed-${++suppliers}`
    const send = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
      return { status: response.status, body: (await response.json()) as any }
    }
    const added = await send("POST", "/v1/suppliers", { id, name: id, connector })
    expect(added.status, JSON.stringify(added.body)).toBe(201)
    expect((await send("POST", `/v1/suppliers/${id}/sync`)).status).toBe(202)
    return eventually(
      `the sync of ${JSON.stringify(connector)} finished`,
      async () => {
        const runs = await send("GET", `/v1/suppliers/${id}/runs`)
        const first = runs.body.items?.at(-1)
        return first === undefined || first.status === "running" ? undefined : first
      },
      20_000,
      100
    )
  }
}

describe.skipIf(!reachable)("supplier feeds on a server", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  const base = mkdtempSync(join(tmpdir(), "inv-feed-access-"))
  const feedDir = join(base, "feeds")
  let port = 0
  let restricted: Awaited<ReturnType<typeof serverWith>>
  let permissive: Awaited<ReturnType<typeof serverWith>>

  beforeAll(async () => {
    mkdirSync(feedDir, { mode: 0o700 })
    writeFileSync(join(feedDir, "inside.csv"), CATALOG)
    writeFileSync(join(base, "outside.csv"), CATALOG)
    symlinkSync(join(base, "outside.csv"), join(feedDir, "link-out.csv"))
    const feeds = await feedServer()
    cleanups.push(feeds.close)
    port = feeds.port
    restricted = await serverWith({ files: { under: feedDir }, privateAddresses: false }, cleanups)
    permissive = await serverWith({ files: "nowhere", privateAddresses: true }, cleanups)
  }, 60_000)

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  it("reads a file under INV_FEED_DIR, by its name there or its full path", async () => {
    expect(await restricted(csv("inside.csv"))).toMatchObject({ status: "succeeded", added: 1 })
    expect(await restricted(csv(join(feedDir, "inside.csv")))).toMatchObject({
      status: "succeeded",
      added: 1
    })
  })

  it.each([
    ["a file outside the directory", "/etc/passwd"],
    ["a relative path leading out with ..", "../outside.csv"],
    ["a symbolic link leading out", "link-out.csv"]
  ])("refuses %s", async (_, source) => {
    const run = await restricted(csv(source))
    expect(run.status).toBe("failed")
    expect(run.error).toBe(
      `${source} is outside the feed directory (INV_FEED_DIR): put the file there and give its path in it`
    )
  })

  it("reads no file at all without INV_FEED_DIR", async () => {
    const run = await permissive(csv(join(feedDir, "inside.csv")))
    expect(run).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/^this server reads no feed files/)
    })
  })

  it.each([
    ["loopback", () => `http://127.0.0.1:${port}/catalog`, "127.0.0.1"],
    ["link-local", () => "http://169.254.169.254/latest/meta-data", "169.254.169.254"],
    ["a private range", () => "http://10.0.0.1/catalog", "10.0.0.1"],
    ["IPv6 loopback", () => `http://[::1]:${port}/catalog`, "::1"],
    ["a name resolving to loopback", () => `http://localhost:${port}/catalog`, "localhost"]
  ])("refuses an HTTP feed at %s", async (_, url, host) => {
    const run = await restricted(http(url()))
    expect(run.status).toBe("failed")
    expect(run.error).toContain(`${host} is `)
    expect(run.error).toContain(
      "a loopback, link-local or private address, which this server does not fetch feeds from (INV_FEED_ALLOW_PRIVATE=true allows it)"
    )
  })

  it("fetches from a private address when INV_FEED_ALLOW_PRIVATE allows it", async () => {
    expect(await permissive(http(`http://127.0.0.1:${port}/catalog`))).toMatchObject({
      status: "succeeded",
      added: 1
    })
  })

  it("reports a failed fetch by its status and a reason, never the answer's text", async () => {
    const broken = await permissive(http(`http://127.0.0.1:${port}/broken`))
    expect(broken.error).toBe("the supplier answered 500")
    const notJson = await permissive(http(`http://127.0.0.1:${port}/metrics`))
    expect(notJson.status).toBe("failed")
    expect(notJson.error).toMatch(/^the answer is not valid JSON/)
    expect(notJson.error).not.toContain("HELP")
    expect(notJson.error).not.toContain("secret")
  })
})

describe("INV_FEED_DIR and INV_FEED_ALLOW_PRIVATE", () => {
  const read = (environment: Record<string, string>) => readConfig("supplier-sync", environment)

  it("unset: no feed files and public addresses only; set: checked by name", () => {
    const unset = read({})
    expect(unset._tag === "Right" && unset.right.feeds).toEqual({ files: "nowhere", privateAddresses: false })
    const set = read({ INV_FEED_DIR: "/srv/feeds", INV_FEED_ALLOW_PRIVATE: "true" })
    expect(set._tag === "Right" && set.right.feeds).toEqual({
      files: { under: "/srv/feeds" },
      privateAddresses: true
    })
    const bad = read({ INV_FEED_DIR: "feeds", INV_FEED_ALLOW_PRIVATE: "yes" })
    expect(bad._tag === "Left" && describeConfigError(bad.left)).toEqual([
      'INV_FEED_DIR: must be an absolute path of the directory supplier CSV files may be read from, got "feeds"',
      'INV_FEED_ALLOW_PRIVATE: must be true or false, got "yes"'
    ])
  })
})
