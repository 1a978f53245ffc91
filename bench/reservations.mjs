// Holds per second on PostgreSQL: the SDK's Promise facade (`inv.reservations.create`) against the
// raw database doing the same work (the same conditional statement, the same transaction, a pg pool
// of the same size) in the same run. Prints a table and one JSON line (starting with
// {"bench":"reservations"}); see docs/benchmarks.md.
//
//   node bench/reservations.mjs          # PostgreSQL at postgres://postgres@127.0.0.1:5432/test
//   BENCH_PG_URL=postgres://…/db BENCH_SECONDS=2 BENCH_CALLERS=1,8,32 node bench/reservations.mjs
//
// A fresh database inv_bench_<random> is created for the run and dropped after it.
import { loadavg } from "node:os"
import { openInventory } from "@invkit/sdk"
import {
  machineBefore,
  machineLine,
  numberKnob,
  pad,
  round2,
  runFacts,
  runFor as runLoops,
  summarize
} from "./load.mjs"
import { rawPool, scratchDatabase } from "./scratchDatabase.mjs"

const ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
/** Measured seconds per side per cell, split in SEGMENTS run in A-B-B-A-A-B-B-A order. */
const SECONDS = numberKnob("BENCH_SECONDS", 2, { min: 0.1 })
const SEGMENTS = 4
const CALLERS = (process.env.BENCH_CALLERS ?? "1,8,32").split(",").map(Number)
const PRODUCTS = 100
const INITIAL_STOCK = 1_000_000
/** The SDK's pool: @effect/sql-pg leaves `max` unset, so pg's default of 10 applies. */
const POOL_SIZE = 10
const LOCATION = "default"
/** Every hold expires in 15 minutes, on both sides: the expiry is part of the statement. */
const EXPIRES_IN_SECONDS = 900

/**
 * The one conditional statement a hold is (internal/reservationWrite.ts `placeHold`): reserved
 * rises where on_hand - reserved covers the quantity, and the hold and its `stock.reserved` outbox
 * row are written, or nothing when it does not fit.
 */
const HOLD = `
    with l as (
      update stock_levels s
        set reserved = s.reserved + $1, version = s.version + 1, updated_at = now()
      where s.sku = $2 and s.location = $3 and s.on_hand - s.reserved >= $4
      returning s.sku, s.location, s.on_hand, s.reserved, s.version
    ),
    r as (
      insert into reservations (sku, location, quantity, reference, status, expires_at, actor)
      select sku, location, $5, $6, 'active', now() + $7 * interval '1 second', $8
      from l
      returning *
    ),
    event as (
      insert into outbox (type, subject, data, traceparent)
      select 'stock.reserved', r.sku, jsonb_build_object(
  'reservationId', r.id, 'sku', r.sku, 'location', r.location, 'quantity', r.quantity,
  'fulfilled', r.fulfilled, 'reference', r.reference, 'status', r.status, 'expiresAt', r.expires_at,
  'reserved', l.reserved, 'onHand', l.on_hand, 'version', l.version, 'actor', r.actor,
  'at', r.updated_at), $9 from r cross join l
    )
    select r.id, r.sku, r.location, r.quantity, r.fulfilled, r.reference, r.status, r.expires_at, r.actor,
           r.created_at, r.updated_at, r.closed_at,
           l.on_hand - l.reserved <= (select reorder_point from products where sku = r.sku) as at_reorder_point
    from r cross join l`

/** One hold as a bare pg transaction: BEGIN; the statement; COMMIT. */
const rawHold = async (pool, sku, reference) => {
  const client = await pool.connect()
  try {
    await client.query("BEGIN")
    const { rows } = await client.query(HOLD, [
      1,
      sku,
      LOCATION,
      1,
      1,
      reference,
      EXPIRES_IN_SECONDS,
      null,
      null
    ])
    if (rows[0] === undefined) throw new Error(`raw baseline: hold of ${sku} declined`)
    await client.query("COMMIT")
    return rows[0]
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {})
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
    const sides = {
      raw: (sku, reference) => rawHold(pool, sku, reference),
      sdk: (sku, reference) =>
        inv.reservations.create({ sku, quantity: 1, reference, expiresIn: EXPIRES_IN_SECONDS })
    }
    // Warm-up: JIT, both pools full, PostgreSQL caches; not measured.
    await runFor(500, 32, 1, sides.raw)
    await runFor(500, 32, 1, sides.sdk)

    const rows = []
    const segment = (SECONDS * 1000) / SEGMENTS
    for (const callers of CALLERS) {
      const rawParts = []
      const sdkParts = []
      for (let i = 0; i < SEGMENTS; i++) {
        const order = i % 2 === 0 ? ["raw", "sdk"] : ["sdk", "raw"]
        for (const side of order) {
          ;(side === "raw" ? rawParts : sdkParts).push(
            await runFor(segment, callers, callers * 100 + i, sides[side])
          )
        }
      }
      const raw = summarize(rawParts)
      const sdk = summarize(sdkParts)
      rows.push({ callers, raw, sdk, ratio: round2(sdk.opsPerSec / raw.opsPerSec) })
    }

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
    console.log(
      `Holds per second on PostgreSQL ${database.serverVersion} (SDK pool and raw pool: ${POOL_SIZE})`
    )
    console.log(`${machineLine(before)}, ${loadAfter} after it; Node ${process.version}`)
    console.log("callers      sdk/s      raw/s   ratio   sdk p50/p99 ms   raw p50/p99 ms")
    for (const row of rows) {
      console.log(
        `${pad(row.callers, 7)} ${pad(row.sdk.opsPerSec, 10)} ${pad(row.raw.opsPerSec, 10)} ${pad(row.ratio.toFixed(2), 7)}   ${pad(`${row.sdk.p50Ms}/${row.sdk.p99Ms}`, 14)}   ${pad(`${row.raw.p50Ms}/${row.raw.p99Ms}`, 14)}`
      )
    }
    console.log(`reserved = Σ active holds on every level, one event per hold: ${consistent ? "yes" : "NO"}`)
    console.log(
      JSON.stringify({
        ...runFacts("reservations", database, before),
        loadAfter,
        seconds: SECONDS,
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
