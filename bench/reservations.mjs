// Holds per second on PostgreSQL: the SDK's Promise facade (`inv.reservations.create`) against the
// raw database doing the same work (the statements the SDK sends for a hold, recorded from the SDK
// at the start of the run, sent with pg from a pool of the same size, unnamed and prepared) in the
// same run. Prints a table and one JSON line (starting with {"bench":"reservations"}); see
// docs/benchmarks.md.
//
//   node bench/reservations.mjs          # PostgreSQL at postgres://postgres@127.0.0.1:5432/test
//   BENCH_PG_URL=postgres://…/db BENCH_SECONDS=2 BENCH_CALLERS=1,8,32 node bench/reservations.mjs
//
// A fresh database inv_bench_<random> is created for the run and dropped after it.
import { loadavg } from "node:os"
import { openInventory } from "@invkit/sdk"
import { queryOf, recording } from "./adjustStatements.mjs"
import {
  machineBefore,
  machineLine,
  measureThreeSides,
  numberKnob,
  printThreeSides,
  round2,
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
const CALLERS = (process.env.BENCH_CALLERS ?? "1,8,32").split(",").map(Number)
const PRODUCTS = 100
const INITIAL_STOCK = 1_000_000
/** The SDK's pool: @effect/sql-pg leaves `max` unset, so pg's default of 10 applies. */
const POOL_SIZE = 10
/** Every hold expires in 15 minutes, on both sides: the expiry is part of the statement. */
const EXPIRES_IN_SECONDS = 900

/**
 * What `inv.reservations.create` sends for an unkeyed hold of one unit (pg's Client#query, which the
 * SDK calls): its statements, each with its parameters as a template in which the probe's SKU and
 * reference become the caller's, and the name the SDK prepares it under. The SDK sends the hold's
 * one statement alone, or inside BEGIN and COMMIT; any other shape stops the run.
 */
const recordHoldStatements = async (inv, sku) => {
  const reference = "bench-probe-hold"
  const seen = await recording(() =>
    inv.reservations.create({ sku, quantity: 1, reference, expiresIn: EXPIRES_IN_SECONDS })
  )
  // A relay's NOTIFY after some commit is not part of the hold.
  const sent = seen.filter(({ text }) => !/^\s*notify /i.test(text))
  const texts = sent.map(({ text }) => text.trim())
  const alone = texts.length === 1 && !/^(BEGIN|COMMIT)$/.test(texts[0])
  const inTransaction = texts.length === 3 && texts[0] === "BEGIN" && texts[2] === "COMMIT"
  if (!alone && !inTransaction) {
    const lines = texts.map((text) => `  ${text.replace(/\s+/g, " ").slice(0, 160)}`)
    throw new Error(`bench/reservations.mjs: a hold changed shape; the SDK sent:\n${lines.join("\n")}`)
  }
  return sent.map(({ text, values, name }) => ({
    text,
    name,
    params: (call) =>
      values.map((value) => (value === sku ? call.sku : value === reference ? call.reference : value))
  }))
}

/** One hold as the SDK sends it, over `pool`: unnamed, or prepared under the SDK's names. */
const rawHold = (pool, statements, prepared) => async (sku, reference) => {
  const client = await pool.connect()
  try {
    let placed
    for (const statement of statements) {
      const { rows } = await client.query(
        queryOf(prepared, statement.text, statement.name, statement.params({ sku, reference }))
      )
      if (!/^(BEGIN|COMMIT)$/.test(statement.text.trim())) placed = rows[0]
    }
    if (placed === undefined) throw new Error(`raw baseline: hold of ${sku} declined`)
    return placed
  } catch (error) {
    if (statements.length > 1) await client.query("ROLLBACK").catch(() => {})
    throw error
  } finally {
    client.release()
  }
}

const skus = Array.from({ length: PRODUCTS }, (_, i) => `HOLD-${String(i + 1).padStart(3, "0")}`)

/** `callers` loops, each awaiting one hold on a random SKU after another. */
const runFor = (ms, callers, seed, hold) =>
  runLoops(ms, {
    concurrency: callers,
    seed,
    call: (random, c) => hold(skus[Math.floor(random() * skus.length)], `cart-${c}`)
  })

const main = async () => {
  const before = await machineBefore()
  const database = await scratchDatabase(ADMIN_URL, "inv_bench")
  let inv
  let pool
  try {
    inv = await openInventory({ databaseUrl: database.url })
    for (const sku of skus) {
      await inv.products.add({ sku, name: `Bench product ${sku}` })
      await inv.stock.set(sku, INITIAL_STOCK)
    }
    pool = rawPool(database.url, POOL_SIZE)
    const statements = await recordHoldStatements(inv, skus[0])
    const sides = {
      raw: rawHold(pool, statements, false),
      prepared: rawHold(pool, statements, true),
      sdk: (sku, reference) =>
        inv.reservations.create({ sku, quantity: 1, reference, expiresIn: EXPIRES_IN_SECONDS })
    }
    const rows = await measureThreeSides({
      sides,
      counts: CALLERS,
      key: "callers",
      seconds: SECONDS,
      segments: SEGMENTS,
      warmupSeconds: WARMUP_SECONDS,
      runFor
    })

    // Both sides' holds kept the books: reserved is the sum of the active holds on every level.
    const check = rawPool(database.url, 1)
    const { rows: off } = await check.query(`
      select l.sku from stock_levels l
      left join (select sku, location, sum(quantity) as held from reservations where status = 'active'
                 group by sku, location) h on h.sku = l.sku and h.location = l.location
      where l.reserved <> coalesce(h.held, 0) or l.reserved > l.on_hand`)
    const { rows: events } = await check.query(
      `select (select count(*) from reservations) as holds, (select count(*) from outbox where type = 'stock.reserved') as events`
    )
    await check.end()
    const consistent = off.length === 0 && Number(events[0].holds) === Number(events[0].events)

    const loadAfter = round2(loadavg()[0])
    const hold = statements.find(({ text }) => !/^(BEGIN|COMMIT)$/.test(text.trim()))
    console.log(
      `\nHolds on PostgreSQL ${database.serverVersion}, ${PRODUCTS} SKUs, pool of ${POOL_SIZE} on every side, ` +
        `${SECONDS} s per side per cell after ${WARMUP_SECONDS} s of warm-up a side, Node ${process.version}, ` +
        `${machineLine(before)}, ${loadAfter} after it`
    )
    console.log(
      `raw = the SDK's ${statements.length === 1 ? "one statement, alone" : "BEGIN, statement, COMMIT"} over pg directly, unnamed; ` +
        `prep = the same, prepared${hold.name ? ` (as ${hold.name})` : " (the SDK sends it unnamed: as raw)"}; ` +
        "sdk = inv.reservations.create() through the Promise facade\n"
    )
    printThreeSides(rows, "callers")
    console.log(
      `\nreserved = Σ active holds on every level, one event per hold: ${consistent ? "yes" : "NO"}`
    )
    console.log(
      JSON.stringify({
        ...runFacts("reservations", database, before),
        loadAfter,
        products: PRODUCTS,
        poolSize: POOL_SIZE,
        secondsPerSide: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        alone: statements.length === 1,
        prepared: hold.name !== undefined,
        consistent,
        rows
      })
    )
    if (!consistent) process.exitCode = 1
  } finally {
    await inv?.close()
    await pool?.end()
    await database.drop()
  }
}

await main()
