/**
 * Group commit over HTTP, on `inv-server all` against a fresh PostgreSQL database: concurrent
 * stock writes share transactions, and each keeps its own answer. A level held by another
 * connection's `select … for update` makes requests queue behind a group deterministically.
 */
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { sampleValue } from "./serviceProcesses.js"
import { postgresReachable, startAllOnFreshDatabase } from "./utils.js"

const reachable = await postgresReachable()

/** mulberry32: the same seed gives the same requests on every run. */
const seededRandom = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe.skipIf(!reachable)("group commit over HTTP", () => {
  let baseUrl = ""
  let databaseUrl = ""
  let stop: () => Promise<unknown> = async () => undefined
  let store: pg.Client

  beforeAll(async () => {
    const server = await startAllOnFreshDatabase()
    baseUrl = server.baseUrl
    databaseUrl = server.databaseUrl
    stop = server.stop
    store = new pg.Client({ connectionString: databaseUrl })
    await store.connect()
  })

  afterAll(async () => {
    await store?.end()
    await stop()
  })

  const send = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { "content-type": "application/json", ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return {
      status: response.status,
      retryAfter: response.headers.get("retry-after"),
      body: (await response.json().catch(() => ({}))) as any
    }
  }

  const groups = async () => {
    const text = await (await fetch(`${baseUrl}/metrics`)).text()
    return {
      groups: sampleValue(text, "inv_stock_write_group_size_count") ?? 0,
      requests: sampleValue(text, "inv_stock_write_group_size_sum") ?? 0
    }
  }

  const setUp = async (skus: ReadonlyArray<string>, quantity: number) => {
    for (const sku of skus) {
      expect((await send("POST", "/v1/products", { sku, name: sku })).status).toBe(201)
      expect((await send("POST", `/v1/stock/${sku}/set`, { quantity })).status).toBe(200)
    }
  }

  /** Holds `sku`'s level from another connection; answers the function that lets it go. */
  const holdLevel = async (sku: string) => {
    const holder = new pg.Client({ connectionString: databaseUrl })
    await holder.connect()
    await holder.query("begin")
    await holder.query("select on_hand from stock_levels where sku = $1 for update", [sku])
    return async () => {
      await holder.query("commit")
      await holder.end()
    }
  }

  /** The backend of the group's transaction, once it waits for a held level. */
  const waitingBackend = async () => {
    for (let i = 0; i < 200; i++) {
      const { rows } = await store.query(
        "select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and application_name like 'invkit%'"
      )
      if (rows.length === 1) return rows[0].pid as number
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    throw new Error("no transaction came to wait for the held level")
  }

  it("16 clients × random adjust, set and transfer, some keyed and retried: every 2xx in the ledger once, every refusal wrote nothing", async () => {
    const skus = Array.from({ length: 5 }, (_, i) => `HGC-${i}`)
    await setUp(skus, 20)
    expect((await send("POST", "/v1/locations", { code: "back" })).status).toBe(201)
    const {
      rows: [{ first }]
    } = await store.query("select coalesce(max(id), 0)::int + 1 as first from stock_movements")
    const before = await groups()

    const random = seededRandom(1205)
    const pick = <T>(items: ReadonlyArray<T>) => items[Math.floor(random() * items.length)]!
    const answered = new Set<number>()
    const refused: Array<string> = []
    const client = async (n: number) => {
      for (let i = 0; i < 40; i++) {
        const sku = pick(skus)
        const location = pick(["default", "back"])
        const kind = random()
        const [path, body] =
          kind < 0.6
            ? [`/v1/stock/${sku}/adjust`, { location, delta: pick([-6, -4, -2, -1, 1, 3, 5]) }]
            : kind < 0.8
              ? [
                  `/v1/stock/${sku}/set`,
                  {
                    location,
                    quantity: Math.floor(random() * 25),
                    ...(random() < 0.5 ? { expected: Math.floor(random() * 25) } : {})
                  }
                ]
              : [
                  `/v1/stock/${sku}/transfer`,
                  {
                    quantity: 1 + Math.floor(random() * 6),
                    from: location,
                    to: location === "back" ? "default" : "back"
                  }
                ]
        const keyed = random() < 0.3 ? { "idempotency-key": `hgc-${n}-${i}` } : undefined
        const tries = keyed
          ? await Promise.all([send("POST", path, body, keyed), send("POST", path, body, keyed)])
          : [await send("POST", path, body)]
        // A retried key answers what the first try was answered.
        if (tries[1]) expect(tries[1]).toEqual(tries[0])
        const [{ status, body: answer }] = tries as [{ status: number; body: any }, ...unknown[]]
        if (status === 200) {
          for (const change of answer.from ? [answer.from, answer.to] : [answer])
            answered.add(change.movementId)
        } else {
          expect([status, answer._tag]).toSatisfy(
            ([s, tag]: [number, string]) =>
              s === 409 && (tag === "InsufficientStock" || tag === "StockConflict")
          )
          refused.push(answer._tag)
        }
      }
    }
    await Promise.all(Array.from({ length: 16 }, (_, n) => client(n)))
    expect(answered.size).toBeGreaterThan(100)
    expect(refused.length).toBeGreaterThan(10)

    const { rows: written } = await store.query(
      "select id::int from stock_movements where id >= $1 order by id",
      [first]
    )
    expect(written.map((row) => row.id)).toEqual([...answered].sort((a, b) => a - b))
    const { rows: unbalanced } = await store.query(`
      select l.sku, l.location from stock_levels l
      left join (select sku, location, sum(delta)::int as total from stock_movements group by sku, location) m
        on m.sku = l.sku and m.location = l.location
      where l.on_hand is distinct from m.total or l.on_hand < 0`)
    expect(unbalanced).toEqual([])
    const { rows: events } = await store.query(
      "select count(*)::int as n from outbox where type = 'stock.updated' and (data ->> 'movementId')::bigint >= $1",
      [first]
    )
    expect(events[0].n).toBe(answered.size)
    const after = await groups()
    expect(after.requests - before.requests).toBeGreaterThan(after.groups - before.groups)
  }, 120_000)

  it("grouped keyed refusals: each InsufficientStock reports a level below what it asked for, and its key refuses it again after stock arrives", async () => {
    const skus = ["HGK-0", "HGK-1"]
    await setUp(skus, 6)
    const random = seededRandom(1206)
    const before = await groups()
    const refusals: Array<{ path: string; body: unknown; key: string; answer: any }> = []
    const client = async (n: number) => {
      for (let i = 0; i < 30; i++) {
        const sku = skus[Math.floor(random() * skus.length)]!
        // Receipts race the sales, so a level read after a refusal's rollback could already be higher.
        if (random() < 0.45) {
          expect(
            (await send("POST", `/v1/stock/${sku}/adjust`, { delta: 1 + Math.floor(random() * 3) })).status
          ).toBe(200)
          continue
        }
        const path = `/v1/stock/${sku}/adjust`
        const body = { delta: -(1 + Math.floor(random() * 6)), reason: "sale" }
        const key = `hgk-${n}-${i}`
        const { status, body: answer } = await send("POST", path, body, { "idempotency-key": key })
        if (status === 200) continue
        expect({ status, tag: answer._tag }).toEqual({ status: 409, tag: "InsufficientStock" })
        refusals.push({ path, body, key, answer })
      }
    }
    await Promise.all(Array.from({ length: 16 }, (_, n) => client(n)))
    const after = await groups()
    expect(after.requests - before.requests).toBeGreaterThan(after.groups - before.groups)
    expect(refusals.length).toBeGreaterThan(10)
    for (const { answer } of refusals) {
      expect(answer.available).toBeGreaterThanOrEqual(0)
      expect(answer.available).toBeLessThan(answer.requested)
    }

    // Stock arrives; each refused request sent again with its key is refused again, the same way.
    for (const sku of skus)
      expect((await send("POST", `/v1/stock/${sku}/adjust`, { delta: 1000 })).status).toBe(200)
    const {
      rows: [{ movements }]
    } = await store.query("select count(*)::int as movements from stock_movements")
    const again = await Promise.all(
      refusals.map(({ path, body, key }) => send("POST", path, body, { "idempotency-key": key }))
    )
    expect(again.map((answer) => [answer.status, answer.body])).toEqual(
      refusals.map(({ answer }) => [409, answer])
    )
    expect(
      (await store.query("select count(*)::int as movements from stock_movements")).rows[0].movements
    ).toBe(movements)
  }, 120_000)

  it("a group whose transaction is cut answers 503 to each of its requests and writes nothing", async () => {
    await setUp(["HCUT-HELD", "HCUT-1", "HCUT-2"], 5)
    const count = async () =>
      (
        await store.query(
          "select (select count(*) from stock_movements)::int as movements, (select sum(on_hand) from stock_levels)::int as units"
        )
      ).rows[0]
    const totals = await count()
    const release = await holdLevel("HCUT-HELD")
    try {
      const first = send("POST", "/v1/stock/HCUT-HELD/adjust", { delta: 1 })
      const firstBackend = await waitingBackend()
      const queued = [
        send("POST", "/v1/stock/HCUT-1/adjust", { delta: 2 }),
        send("POST", "/v1/stock/HCUT-2/adjust", { delta: -9 }),
        send("POST", "/v1/stock/HCUT-2/set", { quantity: 1 }, { "idempotency-key": "hcut-key" }),
        send("POST", "/v1/stock/HCUT-HELD/adjust", { delta: 2 })
      ]
      await new Promise((resolve) => setTimeout(resolve, 200))
      await store.query("select pg_terminate_backend($1)", [firstBackend])
      expect(await first).toMatchObject({ status: 503, retryAfter: "1", body: { _tag: "StoreError" } })
      const secondBackend = await waitingBackend()
      expect(secondBackend).not.toBe(firstBackend)
      await store.query("select pg_terminate_backend($1)", [secondBackend])
      for (const answer of await Promise.all(queued)) {
        expect(answer).toMatchObject({ status: 503, retryAfter: "1", body: { _tag: "StoreError" } })
      }
    } finally {
      await release()
    }
    expect(await count()).toEqual(totals)
    expect(
      await send("POST", "/v1/stock/HCUT-2/set", { quantity: 1 }, { "idempotency-key": "hcut-key" })
    ).toMatchObject({
      status: 200,
      body: { onHand: 1 }
    })
  }, 60_000)
})
