// scratch: run the importer on a fresh db with statement logging
import { randomBytes } from "node:crypto"
import { createReadStream, createWriteStream } from "node:fs"
import { performance } from "node:perf_hooks"
import { Import, openInventory } from "@invkit/sdk"
import pg from "pg"
const ROWS = Number(process.argv[2] ?? 1000000)
const KIND = process.argv[3] ?? "stock"
const ADMIN = "postgres://postgres@127.0.0.1:5432/test"
const db = `inv_scratch_${randomBytes(4).toString("hex")}`
const url = `postgres://postgres@127.0.0.1:5432/${db}`
const sku = (n) => `P-${String(n).padStart(7, "0")}`
const file = `/tmp/scratch-${KIND}-${ROWS}.csv`
const out = createWriteStream(file)
out.write(KIND === "stock" ? "sku,location,quantity\n" : "sku,location,delta\n")
let chunk = []
for (let i = 0; i < ROWS; i++) { chunk.push(`${sku(i)},default,${KIND === "stock" ? (i * 7919) % 1000 : ((i * 7919) % 1000) + 1}\n`); if (chunk.length === 10000) { out.write(chunk.join("")); chunk = [] } }
out.end(chunk.join("")); await new Promise((r) => out.once("close", r))
const admin = new pg.Client({ connectionString: ADMIN }); await admin.connect()
await admin.query(`create database ${db}`)
if (process.env.LOG) await admin.query(`alter database ${db} set log_min_duration_statement = ${process.env.LOG}`)
const inv = await openInventory({ databaseUrl: url })
const seed = new pg.Client({ connectionString: url }); await seed.connect()
await seed.query("insert into products (sku, name, reorder_point) select 'P-' || lpad(g::text, 7, '0'), 'Part ' || g, case when $2 then (g % 3) * 100 else 0 end from generate_series(0, $1 - 1) g", [ROWS, !!process.env.LOWS])
await seed.query("analyze products")
console.error("db", db, "start", new Date().toISOString())
const t0 = performance.now()
const r = await Import.importRows(inv, createReadStream(file))
console.error(KIND, "seconds", ((performance.now() - t0) / 1000).toFixed(2), r.status, r.applied, r.rejected)
const { rows } = await seed.query("select (select count(*) from stock_movements) m, (select count(*) from outbox) e, (select count(*) from restock_orders) r")
console.error(rows)
await seed.end(); await inv.close()
if (!process.env.KEEP) await admin.query(`drop database ${db} with (force)`)
await admin.end()
