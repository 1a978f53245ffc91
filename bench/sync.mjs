import { createServer } from "node:http"
import { performance } from "node:perf_hooks"
import { openInventory } from "@invkit/sdk"
import pg from "pg"
import { numberKnob } from "./load.mjs"
import { scratchDatabase } from "./scratchDatabase.mjs"

const ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const ITEMS = numberKnob("BENCH_ITEMS", 100_000, { min: 1, integer: true })

const catalog = (version) =>
  JSON.stringify({
    products: Array.from({ length: ITEMS }, (_, i) => ({
      id: `SUP-${i}`,
      name: `Item ${i}`,
      inventory: (i * 7 + version) % 500,
      price: ((i % 1000) + 1) / 100
    }))
  })

let body = catalog(0)
const server = createServer((_request, response) => {
  response.writeHead(200, { "content-type": "application/json" })
  response.end(body)
})
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
const url = `http://127.0.0.1:${server.address().port}/catalog`

const connector = {
  type: "http-json",
  url,
  itemsPath: "products",
  fields: { supplierSku: "id", name: "name", availability: "inventory", unitCost: "price" },
  timeoutMs: 120_000
}

/** The raw baseline: the same rows, upserted by one statement into the same table. */
const rawUpsert = async (client, supplierId, items) => {
  const rows = JSON.stringify(
    items.map((item) => ({
      supplier_sku: item.id,
      name: item.name,
      unit_cost: item.price,
      availability: item.inventory,
      content_hash: `${item.inventory}:${item.price}`
    }))
  )
  const started = performance.now()
  await client.query(
    `insert into supplier_items as si (supplier_id, supplier_sku, name, unit_cost, availability, content_hash)
     select $1, f.supplier_sku, f.name, f.unit_cost, f.availability, f.content_hash
     from jsonb_to_recordset($2::jsonb) as f(supplier_sku text, name text, unit_cost numeric, availability int, content_hash text)
     on conflict (supplier_id, supplier_sku) do update
       set name = excluded.name, unit_cost = excluded.unit_cost, availability = excluded.availability,
           content_hash = excluded.content_hash, updated_at = now()
       where si.content_hash <> excluded.content_hash`,
    [supplierId, rows]
  )
  return performance.now() - started
}

const timed = async (work) => {
  const started = performance.now()
  const result = await work()
  return { ms: performance.now() - started, result }
}

const rate = (ms) => Math.round((ITEMS / ms) * 1000)
const results = []

// PostgreSQL
const database = await scratchDatabase(ADMIN_URL, "inv_bench_sync")
const databaseUrl = database.url
try {
  const inv = await openInventory({ databaseUrl })
  await inv.suppliers.add({ id: "bench", name: "Bench supplier", connector })
  body = catalog(0)
  const first = await timed(() => inv.suppliers.sync("bench"))
  const second = await timed(() => inv.suppliers.sync("bench"))
  body = catalog(1)
  const changed = await timed(() => inv.suppliers.sync("bench"))
  await inv.suppliers.add({ id: "raw", name: "Raw baseline", connector })
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const items = JSON.parse(catalog(0)).products
  const rawFirst = await rawUpsert(client, "raw", items)
  const rawSecond = await rawUpsert(client, "raw", items)
  const rawChanged = await rawUpsert(client, "raw", JSON.parse(catalog(1)).products)
  await client.end()
  await inv.close()
  results.push(
    { store: "postgres", pass: "first (all added)", sdkMs: first.ms, rawMs: rawFirst, run: first.result },
    {
      store: "postgres",
      pass: "again (all unchanged)",
      sdkMs: second.ms,
      rawMs: rawSecond,
      run: second.result
    },
    { store: "postgres", pass: "all changed", sdkMs: changed.ms, rawMs: rawChanged, run: changed.result }
  )
} finally {
  await database.drop()
}

// The embedded store, in memory: the SDK only (the same SQL on PGlite).
{
  const inv = await openInventory({ inMemory: true })
  await inv.suppliers.add({ id: "bench", name: "Bench supplier", connector })
  body = catalog(0)
  const first = await timed(() => inv.suppliers.sync("bench"))
  const second = await timed(() => inv.suppliers.sync("bench"))
  await inv.close()
  results.push(
    { store: "embedded", pass: "first (all added)", sdkMs: first.ms, rawMs: null, run: first.result },
    { store: "embedded", pass: "again (all unchanged)", sdkMs: second.ms, rawMs: null, run: second.result }
  )
}
server.close()

console.log(`Catalog sync of ${ITEMS.toLocaleString("en")} items (supplier on loopback)\n`)
console.log(
  "store      pass                     SDK items/s   raw upsert items/s   SDK/raw   counts (added/updated/unchanged)"
)
for (const r of results) {
  const ratio = r.rawMs === null ? "" : `${(r.rawMs / r.sdkMs).toFixed(2)}×`
  console.log(
    `${r.store.padEnd(10)} ${r.pass.padEnd(24)} ${String(rate(r.sdkMs)).padStart(11)}   ${(r.rawMs === null ? "—" : String(rate(r.rawMs))).padStart(18)}   ${ratio.padStart(7)}   ${r.run.added}/${r.run.updated}/${r.run.unchanged}`
  )
}
console.log(
  JSON.stringify({
    bench: "sync",
    items: ITEMS,
    results: results.map((r) => ({
      store: r.store,
      pass: r.pass,
      sdkItemsPerSecond: rate(r.sdkMs),
      rawItemsPerSecond: r.rawMs === null ? null : rate(r.rawMs),
      ratio: r.rawMs === null ? null : Number((r.rawMs / r.sdkMs).toFixed(3))
    }))
  })
)
