/**
 * What a request to `inv-server all` may contain, on a fresh PostgreSQL database: unknown or
 * duplicated properties, deep nesting, NUL characters and invalid UTF-8 are each a 400 naming the
 * field, a path with `;` is no route, a store failure's answer carries no database text, and
 * after each refusal the database is as it was.
 */
import http from "node:http"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { postgresReachable, startAllOnFreshDatabase } from "./utils.js"

const reachable = await postgresReachable()

describe.skipIf(!reachable)("inv-server all refuses what the contract does not take", () => {
  let baseUrl = ""
  let db: pg.Client
  let stop = async () => {}

  beforeAll(async () => {
    const server = await startAllOnFreshDatabase()
    stop = server.stop
    baseUrl = server.baseUrl
    db = new pg.Client({ connectionString: server.databaseUrl })
    await db.connect()
    const product = {
      unit: "each",
      reorderPoint: 0,
      reorderQuantity: 0,
      maxLevel: null,
      preferredSupplier: null
    }
    for (const sku of ["SKU-1", "SKU-2"]) {
      const created = await send("POST", "/v1/products", JSON.stringify({ ...product, sku, name: sku }))
      expect(created.status).toBe(201)
    }
    expect((await send("POST", "/v1/stock/SKU-1/adjust", JSON.stringify({ delta: 10 }))).status).toBe(200)
  })

  afterAll(async () => {
    await db?.end()
    await stop()
  })

  const send = (method: string, path: string, body?: string | Uint8Array, contentType = "application/json") =>
    fetch(`${baseUrl}${path}`, { method, headers: { "content-type": contentType }, body })

  /** Everything a refused request could have changed. */
  const snapshot = async () =>
    (
      await db.query(`select
        (select json_agg(p order by sku) from products p) as products,
        (select json_agg(l order by sku, location) from stock_levels l) as levels,
        (select count(*) from stock_movements) as movements,
        (select count(*) from locations) as locations,
        (select count(*) from outbox) as outbox`)
    ).rows[0]

  /** Sends the request, expects a 400 InvalidInput naming `field`, and that nothing changed. */
  const refused = async (
    method: string,
    path: string,
    body: string | Uint8Array | undefined,
    field: string,
    contentType?: string
  ) => {
    const before = await snapshot()
    const response = await send(method, path, body, contentType)
    const answer = (await response.json()) as {
      readonly _tag: string
      readonly field: string
      readonly rule: string
    }
    expect({ status: response.status, _tag: answer._tag, field: answer.field }).toEqual({
      status: 400,
      _tag: "InvalidInput",
      field
    })
    expect(await snapshot()).toEqual(before)
    return answer
  }

  it("refuses an unknown property, naming it, instead of ignoring it", async () => {
    const misspeltDryRun = await refused(
      "POST",
      "/v1/stock/batch",
      JSON.stringify({ changes: [{ type: "adjust", sku: "SKU-1", delta: -3 }], dryrun: true }),
      "dryrun"
    )
    expect(misspeltDryRun.rule).toMatch(/unknown property.*"dryRun"/)
    await refused("POST", "/v1/stock/SKU-1/adjust", JSON.stringify({ delta: 1, locaton: "east" }), "locaton")
    await refused(
      "POST",
      "/v1/stock/batch",
      JSON.stringify({ changes: [{ type: "set", sku: "SKU-1", quantity: 1, locaton: "east" }] }),
      "changes[0].locaton"
    )
    await refused("PATCH", "/v1/products/SKU-1", JSON.stringify({ name: "x", colour: "red" }), "colour")
    const manyKeys = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 1]))
    await refused("POST", "/v1/stock/SKU-1/adjust", JSON.stringify({ delta: 1, ...manyKeys }), "k0")
  })

  it("refuses an unknown query parameter, naming it, instead of answering as if it were not there", async () => {
    const misspeltLimit = await refused("GET", "/v1/stock?limt=1", undefined, "limt")
    expect(misspeltLimit.rule).toMatch(/unknown property.*"limit"/)
    await refused("GET", "/v1/stock/SKU-1?locaton=east", undefined, "locaton")
    await refused("GET", "/v1/low-stock?limit=5&cursr=x", undefined, "cursr")
    // The declared ones are still taken.
    const page = await send("GET", "/v1/stock?limit=1")
    expect(page.status).toBe(200)
    expect(((await page.json()) as { items: unknown[] }).items).toHaveLength(1)
  })

  it("refuses text it could not store as given, and a SKU no URL can name", async () => {
    // JSON's escape of an unpaired surrogate: UTF-8 cannot carry it, PostgreSQL stored U+FFFD.
    await refused("POST", "/v1/stock/SKU-1/adjust", '{"delta": 1, "reference": "\\ud800"}', "reference")
    await refused("POST", "/v1/stock/SKU-1/adjust", '{"delta": 1, "reference": "a\\u2028b"}', "reference")
    for (const sku of [".", ".."]) {
      await refused("POST", "/v1/products", JSON.stringify({ sku, name: "Unreachable" }), "sku")
    }
  })

  it("refuses a second authorization or idempotency key, naming the header", async () => {
    // Node keeps the first authorization (so which role counted depended on the order) and joins
    // two keys into one ("aa1, bb1"), a key neither sender meant.
    // An array value is sent as one header line per item.
    const sendRaw = (headers: Record<string, string | Array<string>>) =>
      new Promise<{ status: number; body: { field?: string } }>((resolve, reject) => {
        const request = http.request(
          `${baseUrl}/v1/stock/SKU-1/adjust`,
          { method: "POST", headers: { ...headers, "content-type": "application/json" } },
          (response) => {
            let text = ""
            response.on("data", (chunk) => {
              text += chunk
            })
            response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }))
          }
        )
        request.on("error", reject)
        request.end(JSON.stringify({ delta: 1 }))
      })
    const before = await snapshot()
    const auth = await sendRaw({ authorization: ["Bearer one", "Bearer two"] })
    expect(auth).toMatchObject({ status: 400, body: { field: "authorization" } })
    const keys = await sendRaw({ "idempotency-key": ["aa1", "bb1"] })
    expect(keys).toMatchObject({ status: 400, body: { field: "idempotency-key" } })
    expect(await snapshot()).toEqual(before)
  })

  it("refuses a long SKU by its rule, and repeats no long path in a 404", async () => {
    // The router matched no route with a parameter over 100 characters: a 404, not the SKU's rule.
    for (const length of [65, 128, 3_000]) {
      await refused("GET", `/v1/stock/${"S".repeat(length)}`, undefined, "sku")
    }
    const nowhere = await send("GET", `/v1/nowhere/${"x".repeat(8_000)}`)
    expect(nowhere.status).toBe(404)
    const answer = (await nowhere.json()) as { readonly _tag: string; readonly message: string }
    expect(answer._tag).toBe("RouteNotFound")
    expect(answer.message.length).toBeLessThan(200)
  })

  it("refuses a forged page cursor as a 400 naming it, not a store failure", async () => {
    const forged = (key: unknown) => Buffer.from(JSON.stringify(key)).toString("base64url")
    for (const path of ["/v1/stock/SKU-1/history", "/v1/reservations", "/v1/restock-orders"]) {
      await refused("GET", `${path}?cursor=${forged([1.5])}`, undefined, "cursor")
    }
    await refused("GET", `/v1/products?cursor=${forged(["a\u0000b"])}`, undefined, "cursor")
    await refused("GET", `/v1/stock?cursor=${forged([1, 2])}`, undefined, "cursor")
  })

  it("refuses a query parameter to an operation that declares none, instead of ignoring it", async () => {
    // The platform reads no query for these: a dry run asked for in the query applied the batch.
    const dryRun = await refused(
      "POST",
      "/v1/stock/batch?dryRun=true",
      JSON.stringify({ changes: [{ type: "adjust", sku: "SKU-1", delta: 1 }] }),
      "dryRun"
    )
    expect(dryRun.rule).toMatch(/query parameter.*takes none.*body/)
    await refused("POST", "/v1/stock/SKU-1/adjust?delta=5", JSON.stringify({ delta: 1 }), "delta")
    await refused("POST", "/v1/reservations?foo=1", JSON.stringify({ sku: "SKU-1", quantity: 1 }), "foo")
    await refused("GET", "/v1/overview?location=east", undefined, "location")
    // An empty query is no parameter.
    const applied = await send("POST", "/v1/stock/SKU-1/adjust?", JSON.stringify({ delta: 1 }))
    expect(applied.status).toBe(200)
  })

  it("refuses an unknown property in the body of every operation that takes one", async () => {
    const contract = (await (await send("GET", "/openapi.json")).json()) as {
      readonly paths: Record<string, Record<string, { readonly requestBody?: unknown }>>
    }
    const withBodies = Object.entries(contract.paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.requestBody !== undefined)
        .map(([method, _]) => [method.toUpperCase(), path.replace("{sku}", "SKU-1").replace("{id}", "1")])
    )
    expect(withBodies.length).toBeGreaterThan(10)
    const answers = []
    for (const [method, path] of withBodies) {
      const response = await send(method!, path!, JSON.stringify({ notAField: 1 }))
      const answer = (await response.json()) as { readonly _tag?: string; readonly field?: string }
      answers.push({ method, path, status: response.status, _tag: answer._tag, field: answer.field })
    }
    expect(answers.filter((answer) => answer.status !== 400 || answer.field !== "notAField")).toEqual([])
  })

  it("refuses a property given twice instead of keeping the last", async () => {
    const answer = await refused("POST", "/v1/stock/SKU-1/adjust", '{"delta": -1, "delta": 5}', "delta")
    expect(answer.rule).toMatch(/twice/)
    await refused(
      "POST",
      "/v1/stock/batch",
      '{"changes": [{"type": "adjust", "sku": "SKU-1", "delta": 1, "\\u0064elta": 2}]}',
      "changes[0].delta"
    )
  })

  it("refuses a number not written in digits (1e3, 5.0, -0), naming the field, as the CLI and an import do", async () => {
    for (const written of ["1e3", "5.0", "-0", "1E2", "2.5"]) {
      const answer = await refused("POST", "/v1/stock/SKU-1/adjust", `{"delta": ${written}}`, "delta")
      expect(answer.rule).toContain("digits")
    }
    await refused("POST", "/v1/stock/SKU-1/set", '{"quantity": 4.0}', "quantity")
    await refused(
      "POST",
      "/v1/stock/batch",
      '{"changes": [{"type": "adjust", "sku": "SKU-1", "delta": 1}, {"type": "set", "sku": "SKU-2", "quantity": 1e1}]}',
      "changes[1].quantity"
    )
    // Digits with a leading minus, and zero, are numbers as written.
    expect((await send("POST", "/v1/stock/SKU-1/adjust", '{"delta": -1}')).status).toBe(200)
    expect((await send("POST", "/v1/stock/SKU-2/set", '{"quantity": 0}')).status).toBe(200)
  })

  it("refuses a body nested past the depth limit with 400, not a crash", async () => {
    const deep = `{"delta": 1, "reference": ${"[".repeat(3000)}${"]".repeat(3000)}}`
    const answer = await refused("POST", "/v1/stock/SKU-1/adjust", deep, "body")
    expect(answer.rule).toMatch(/deeper than 32/)
  })

  it("refuses a NUL character in any text field, naming the field", async () => {
    await refused(
      "POST",
      "/v1/stock/SKU-1/adjust",
      JSON.stringify({ delta: 1, reference: "a\u0000b" }),
      "reference"
    )
    await refused("PATCH", "/v1/products/SKU-1", JSON.stringify({ name: "Wid\u0000get" }), "name")
    await refused(
      "POST",
      "/v1/stock/batch",
      JSON.stringify({ changes: [{ type: "adjust", sku: "SKU-1", delta: 1 }], reference: "\u0000" }),
      "reference"
    )
    await refused("GET", "/v1/products?text=a%00b", undefined, "text")
    await refused("GET", "/v1/suppliers/a%00b", undefined, "path")
    // A form body would reach the payload without the JSON checks: it is refused as a whole.
    await refused(
      "PATCH",
      "/v1/products/SKU-1",
      "name=Wid%00get",
      "content-type",
      "application/x-www-form-urlencoded"
    )
    // JSON sent as text is refused for its type, not as "not a JSON object".
    const asText = await refused(
      "POST",
      "/v1/stock/SKU-1/adjust",
      JSON.stringify({ delta: 1 }),
      "content-type",
      "text/plain"
    )
    expect(asText.rule).toMatch(/application\/json/)
  })

  it("refuses a body that is not valid UTF-8 instead of replacing the bytes", async () => {
    const body = new Uint8Array([
      ...new TextEncoder().encode('{"name": "Wid'),
      0xff,
      0xfe,
      ...new TextEncoder().encode('"}')
    ])
    const answer = await refused("PATCH", "/v1/products/SKU-1", body, "body")
    expect(answer.rule).toMatch(/UTF-8/)
  })

  it("refuses a body that is not JSON, or not a JSON object, naming the body and not dumping a schema", async () => {
    const trailing = await refused("POST", "/v1/stock/SKU-1/adjust", '{"delta": 1} x', "body")
    expect(trailing.rule).toMatch(/^is not valid JSON \(.+\); send one JSON object$/)
    for (const body of ["[1]", "5", '"delta"']) {
      const answer = await refused("POST", "/v1/stock/SKU-1/adjust", body, "body")
      expect(answer.rule).toBe("must be a JSON object with this request's properties (see /openapi.json)")
    }
  })

  it("answers 404 for a path that is a route only up to a ';'", async () => {
    const before = await snapshot()
    const patched = await send("PATCH", "/v1/products/SKU-1;drop", JSON.stringify({ name: "Dropped" }))
    expect(patched.status).toBe(404)
    expect(await patched.json()).toMatchObject({ _tag: "RouteNotFound" })
    const history = await send("GET", "/v1/stock/SKU-1;x/history")
    expect(history.status).toBe(404)
    expect(await history.json()).toMatchObject({ _tag: "RouteNotFound" })
    expect(await snapshot()).toEqual(before)
  })

  it("answers 404 for a path that differs from a route by case, a trailing slash or a doubled slash", async () => {
    const before = await snapshot()
    for (const path of [
      "/v1/products/SKU-1/",
      "/v1//products/SKU-1",
      "/V1/products/SKU-1",
      "/v1/Products/SKU-1"
    ]) {
      const patched = await send("PATCH", path, JSON.stringify({ name: "Renamed" }))
      expect({ path, status: patched.status, body: await patched.json() }).toMatchObject({
        path,
        status: 404,
        body: { _tag: "RouteNotFound" }
      })
    }
    for (const path of [
      "/v1/stock/SKU-1/",
      "/v1/stock//SKU-1",
      "/V1/STOCK/SKU-1",
      "/v1/stock/SKU-1/history/"
    ]) {
      expect({ path, status: (await send("GET", path)).status }).toEqual({ path, status: 404 })
    }
    expect(await snapshot()).toEqual(before)
    // The routes themselves, and the operational ones, answer as before.
    expect((await send("GET", "/v1/stock/SKU-1")).status).toBe(200)
    for (const path of ["/health", "/docs", "/openapi.json", "/metrics"]) {
      expect({ path, status: (await send("GET", path)).status }).toEqual({ path, status: 200 })
    }
  })

  it("still takes a request that names every property once, with the declared names", async () => {
    const response = await send(
      "POST",
      "/v1/stock/batch",
      JSON.stringify({
        changes: [{ type: "adjust", sku: "SKU-2", delta: 4 }],
        dryRun: false,
        reference: "check"
      })
    )
    expect(response.status).toBe(200)
    const level = await db.query("select on_hand from stock_levels where sku = 'SKU-2'")
    expect(level.rows[0]?.on_hand).toBe(4)
  })

  it("answers a store failure 503 without the database's own message", async () => {
    await db.query("alter table products rename to products_elsewhere")
    try {
      const response = await send("GET", "/v1/products")
      const text = await response.text()
      expect(response.status).toBe(503)
      expect(JSON.parse(text)._tag).toBe("StoreError")
      expect(text).not.toMatch(/relation|products|does not exist/i)
    } finally {
      await db.query("alter table products_elsewhere rename to products")
    }
  })
})
