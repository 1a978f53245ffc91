// Level reads per second on PostgreSQL: the SDK's Promise facade (`inv.stock.level(sku)`) against
// the raw database doing the same work (the statement the SDK sends for it, recorded at the start
// of the run, on a pg pool of the same size) in the same run, twice: unnamed, as pg sends a
// statement by default, and prepared under the name the SDK prepares it under. Prints a table and
// one JSON line (starting with {"bench":"levels"}); see docs/benchmarks.md.
//
//   node bench/levels.mjs                # PostgreSQL at postgres://postgres@127.0.0.1:5432/test
//   BENCH_PG_URL=postgres://…/db BENCH_SECONDS=2 BENCH_READERS=1,8,32 node bench/levels.mjs
//
// A fresh database inv_bench_<random> is created for the run and dropped after it.
import { openInventory } from "@invkit/sdk"
import { queryOf, recording } from "./adjustStatements.mjs"
import {
  machineBefore,
  machineLine,
  measureThreeSides,
  numberKnob,
  printThreeSides,
  runFacts,
  runFor as runLoops
} from "./load.mjs"
import { rawPool, scratchDatabase } from "./scratchDatabase.mjs"

const ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
/** Measured seconds per side per cell, split in SEGMENTS run in A-B-C-C-B-A-… order. */
const SECONDS = numberKnob("BENCH_SECONDS", 2, { min: 0.1 })
const SEGMENTS = 4
/** Unmeasured load on each side before the cells, in seconds: V8 optimises what proves hot. */
const WARMUP_SECONDS = numberKnob("BENCH_WARMUP_SECONDS", 5)
const READERS = (process.env.BENCH_READERS ?? "1,8,32").split(",").map(Number)
const PRODUCTS = 100
/** The SDK's pool: @effect/sql-pg leaves `max` unset, so pg's default of 10 applies. */
const POOL_SIZE = 10

const skus = Array.from({ length: PRODUCTS }, (_, i) => `LV-${String(i + 1).padStart(3, "0")}`)

/**
 * The statement `inv.stock.level(sku)` sends (pg's Client#query, which the SDK calls), with the
 * position of the SKU among its parameters; a read of another shape stops the run.
 */
const recordLevelStatement = async (inv, sku) => {
  const seen = await recording(() => inv.stock.level(sku))
  const reads = seen.filter(({ text }) => !/^\s*notify /i.test(text))
  const skuAt = reads[0]?.values.indexOf(sku) ?? -1
  if (reads.length !== 1 || skuAt < 0) {
    const lines = reads.map(({ text }) => `  ${text.replace(/\s+/g, " ").trim().slice(0, 160)}`)
    throw new Error(
      `bench/levels.mjs: a level read is no longer one statement with the SKU; the SDK sent:\n${lines.join("\n")}`
    )
  }
  const [{ text, values, name }] = reads
  return { text, name, params: (of) => values.map((value, i) => (i === skuAt ? of : value)) }
}

const main = async () => {
  const before = await machineBefore()
  const database = await scratchDatabase(ADMIN_URL, "inv_bench")
  let inv
  let pool
  try {
    inv = await openInventory({ databaseUrl: database.url })
    for (const [i, sku] of skus.entries()) {
      await inv.products.add({ sku, name: `Bench product ${sku}` })
      await inv.stock.set(sku, 1_000 + i)
    }
    pool = rawPool(database.url, POOL_SIZE)
    const statement = await recordLevelStatement(inv, skus[0])
    const rawRead = (prepared) => async (sku) => {
      const { rows } = await pool.query(
        queryOf(prepared, statement.text, statement.name, statement.params(sku))
      )
      if (rows.length === 0) throw new Error(`raw baseline: no row for ${sku}`)
    }
    const sides = { raw: rawRead(false), prepared: rawRead(true), sdk: (sku) => inv.stock.level(sku) }
    const runFor = (ms, readers, seed, read) =>
      runLoops(ms, {
        concurrency: readers,
        seed,
        call: (random) => read(skus[Math.floor(random() * skus.length)])
      })

    const rows = await measureThreeSides({
      sides,
      counts: READERS,
      key: "readers",
      seconds: SECONDS,
      segments: SEGMENTS,
      warmupSeconds: WARMUP_SECONDS,
      runFor
    })

    const machine = machineLine(before)
    console.log(
      `\nLevel reads on PostgreSQL ${database.serverVersion}, ${PRODUCTS} SKUs, pool of ${POOL_SIZE} on every side, ` +
        `${SECONDS} s per side per cell after ${WARMUP_SECONDS} s of warm-up a side, Node ${process.version}, ${machine}`
    )
    console.log(
      `raw = the SDK's statement over pg directly, unnamed; prep = the same, prepared${statement.name ? ` (as ${statement.name})` : " (the SDK sends it unnamed: as raw)"}; ` +
        "sdk = inv.stock.level(sku) through the Promise facade\n"
    )
    printThreeSides(rows, "readers")
    console.log(
      `\n${JSON.stringify({
        ...runFacts("levels", database, before),
        products: PRODUCTS,
        poolSize: POOL_SIZE,
        secondsPerSide: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        prepared: statement.name !== undefined,
        results: rows
      })}`
    )
  } finally {
    await pool?.end()
    await inv?.close()
    await database.drop()
  }
}

await main()
