import { openInventory } from "@invkit/sdk"
import pg from "pg"

const admin = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/test" })
await admin.connect()
const db = "inv_prof_" + Math.random().toString(36).slice(2, 8)
await admin.query(`create database ${db}`)
const url = `postgres://postgres@127.0.0.1:5432/${db}`
const inv = await openInventory({ databaseUrl: url, groupCommit: process.env.GC === "1" })
for (let i = 0; i < 20; i++) {
  await inv.products.add({ sku: `S-${i}`, name: `S ${i}` })
  await inv.stock.set(`S-${i}`, 1000000)
}
const N = Number(process.env.N ?? 3000)
for (let i = 0; i < 500; i++) await inv.stock.adjust(`S-${i % 20}`, i % 2 ? 1 : -1, { reason: "sale" })
const t = performance.now()
const c0 = process.cpuUsage()
for (let i = 0; i < N; i++) await inv.stock.adjust(`S-${i % 20}`, i % 2 ? 1 : -1, { reason: "sale" })
const c = process.cpuUsage(c0)
const ms = performance.now() - t
console.log(
  `GC=${process.env.GC} ${N} adjusts: ${((N / ms) * 1000).toFixed(0)}/s, cpu ${((c.user + c.system) / N).toFixed(0)} µs/call`
)
await inv.close()
await admin.query(`drop database ${db}`)
await admin.end()
