// Adjustments per second on PostgreSQL: the SDK's Promise facade against the raw database doing
// the same work (the same SQL text, the same transaction, a pg pool of the same size) in the same
// run, twice: unnamed, as a per-request transaction over pg goes by default, and prepared under the
// names the SDK prepares its statements under. Prints a table and one JSON line (starting with {"bench":"adjust"}); see docs/benchmarks.md.
//
//   node bench/adjust.mjs               # PostgreSQL at postgres://postgres@127.0.0.1:5432/test
//   BENCH_PG_URL=postgres://…/db BENCH_SECONDS=2 node bench/adjust.mjs
//
// A fresh database inv_bench_<random> is created for the run and dropped after it.
import { createHash, randomBytes } from "node:crypto"
import { openInventory } from "@invkit/sdk"
import { queryOf, recordAdjustStatements } from "./adjustStatements.mjs"
import {
  machineBefore,
  machineLine,
  numberKnob,
  printThreeSides,
  round2,
  runFacts,
  runFor as runLoops,
  summarize
} from "./load.mjs"
import { rawPool, scratchDatabase } from "./scratchDatabase.mjs"

const ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
/** Measured seconds per side (raw, prepared, SDK) per cell, split in SEGMENTS run in A-B-C-C-B-A-… order. */
const SECONDS = numberKnob("BENCH_SECONDS", 2, { min: 0.1 })
const SEGMENTS = 4
/**
 * Unmeasured load on each side of each variant before it is measured, in seconds: the SDK's write
 * path reaches its steady speed after some seconds of load (V8 optimises its hot functions as they
 * prove hot), and an application that writes often runs past that.
 */
const WARMUP_SECONDS = numberKnob("BENCH_WARMUP_SECONDS", 5)
const WRITERS = (process.env.BENCH_WRITERS ?? "1,8,32").split(",").map(Number)
/** Unkeyed, keyed, and unkeyed through the SDK opened with group commit. */
const VARIANTS = ["adjust", "adjust+key", "adjust, grouped"]
const PRODUCTS = 100
const INITIAL_STOCK = 1_000_000
/** The SDK's pool: @effect/sql-pg leaves `max` unset, so pg's default of 10 applies. */
const POOL_SIZE = 10

// The raw baseline: the SDK's own statements, recorded at the start of the run (bench/adjustStatements.mjs).

const LOCATION = "default"
const REASON = "sale"

/**
 * One adjustment with bare pg: BEGIN; [key claim; savepoint;] the CTE; [key answer;] COMMIT. Unkeyed,
 * the CTE alone when the SDK sends it alone (it is one statement: PostgreSQL commits it on its own).
 */
const rawAdjust = async (pool, statements, sku, delta, key, prepared) => {
  if (key === null && statements.unkeyedAlone) {
    const change = delta > 0 ? statements.increase : statements.decrease
    const { rows } = await pool.query(
      queryOf(prepared, change.text, change.name, change.params({ sku, delta, actor: null, key }))
    )
    if (rows[0] === undefined) throw new Error(`raw baseline: adjustment of ${sku} by ${delta} declined`)
    return rows[0]
  }
  const client = await pool.connect()
  try {
    await client.query("BEGIN")
    if (key !== null) {
      // The SDK hashes the decoded request to tell a replay from a reuse; so does the baseline.
      const hash = createHash("sha256")
        .update(
          JSON.stringify(["adjust", { delta, idempotencyKey: key, location: LOCATION, reason: REASON, sku }])
        )
        .digest("hex")
      await client.query(queryOf(prepared, statements.keyExpire, statements.keyNames.expire, [key]))
      const claimed = await client.query(
        queryOf(prepared, statements.keyClaim, statements.keyNames.claim, [key, hash])
      )
      if (claimed.rows.length === 0) throw new Error(`raw baseline: key ${key} already used`)
      // Keyed, a refusal is kept with the key: the change runs under a savepoint that undoes it.
      await client.query(statements.keySavepoint)
    }
    const change = delta > 0 ? statements.increase : statements.decrease
    const { rows } = await client.query(
      queryOf(prepared, change.text, change.name, change.params({ sku, delta, actor: null, key }))
    )
    const row = rows[0]
    if (row === undefined) throw new Error(`raw baseline: adjustment of ${sku} by ${delta} declined`)
    if (key !== null) {
      const answer = {
        movementId: row.movement_id,
        sku: row.sku,
        location: row.location,
        delta: row.delta,
        onHand: row.on_hand,
        version: row.version,
        reason: row.reason,
        reference: row.reference,
        actor: row.actor,
        at: row.at.toISOString()
      }
      await client.query(
        queryOf(prepared, statements.keyAnswer, statements.keyNames.answer, [JSON.stringify(answer), key])
      )
    }
    await client.query("COMMIT")
    return row
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {})
    throw error
  } finally {
    client.release()
  }
}

// ---------------------------------------------------------------------------------------------
// Driving the load

const skus = Array.from({ length: PRODUCTS }, (_, i) => `BENCH-${String(i + 1).padStart(3, "0")}`)

/** `writers` loops, each awaiting one adjustment of a random SKU by ±1 after another. */
const runFor = (ms, writers, seed, adjust) =>
  runLoops(ms, {
    concurrency: writers,
    seed,
    call: (random) => {
      const sku = skus[Math.floor(random() * skus.length)]
      return adjust(sku, random() < 0.5 ? -1 : 1)
    }
  })

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const before = await machineBefore()
  const database = await scratchDatabase(ADMIN_URL, "inv_bench")
  let inv
  let grouped
  let pool
  try {
    // Opening the database migrates it.
    inv = await openInventory({ databaseUrl: database.url })
    for (const sku of skus) {
      await inv.products.add({ sku, name: `Bench product ${sku}` })
      await inv.stock.adjust(sku, INITIAL_STOCK, { reason: "receipt" })
    }
    pool = rawPool(database.url, POOL_SIZE)

    const statements = await recordAdjustStatements(inv, skus[0], REASON)

    const runId = randomBytes(3).toString("hex")
    let keyCounter = 0
    // The SDK again with group commit (Stock.groupCommit), as a server or a busy app would open it.
    grouped = await openInventory({ databaseUrl: database.url, groupCommit: true })
    const sdkAdjust = (inventory, prefix) => (sku, delta, idempotent) =>
      inventory.stock.adjust(
        sku,
        delta,
        idempotent
          ? { reason: REASON, idempotencyKey: `${prefix}-${runId}-${keyCounter++}` }
          : { reason: REASON }
      )
    const plainSdk = sdkAdjust(inv, "sdk")
    const groupedSdk = sdkAdjust(grouped, "grouped")
    const sides = (variant) => {
      const idempotent = variant === "adjust+key"
      return {
        raw: (sku, delta) =>
          rawAdjust(pool, statements, sku, delta, idempotent ? `raw-${runId}-${keyCounter++}` : null, false),
        prepared: (sku, delta) =>
          rawAdjust(pool, statements, sku, delta, idempotent ? `prep-${runId}-${keyCounter++}` : null, true),
        sdk: (sku, delta) => (variant === "adjust, grouped" ? groupedSdk : plainSdk)(sku, delta, idempotent)
      }
    }

    // Warm-up: JIT, both pools full, PostgreSQL caches; not measured.
    for (const variant of VARIANTS) {
      const { raw, prepared, sdk } = sides(variant)
      // In two halves a side, alternating, as the measured segments do.
      for (const side of [raw, prepared, sdk, raw, prepared, sdk]) {
        await runFor(WARMUP_SECONDS * 500, 32, 1, side)
      }
    }

    const rows = []
    const segment = (SECONDS * 1000) / SEGMENTS
    for (const [v, variant] of VARIANTS.entries()) {
      const { raw, prepared, sdk } = sides(variant)
      for (const writers of WRITERS) {
        // Short segments in A-B-C-C-B-A order: the tables grow during the run and other processes
        // come and go; interleaving spreads both over the sides.
        const parts = new Map([
          [raw, []],
          [prepared, []],
          [sdk, []]
        ])
        for (let i = 0; i < SEGMENTS; i++) {
          const seed = writers * 100 + v * 50 + i
          const order = i % 2 === 0 ? [raw, prepared, sdk] : [sdk, prepared, raw]
          for (const side of order) parts.get(side).push(await runFor(segment, writers, seed, side))
        }
        const rawStats = summarize(parts.get(raw))
        const preparedStats = summarize(parts.get(prepared))
        const sdkStats = summarize(parts.get(sdk))
        rows.push({
          variant,
          writers,
          raw: rawStats,
          rawPrepared: preparedStats,
          sdk: sdkStats,
          ratio: round2(sdkStats.opsPerSec / rawStats.opsPerSec),
          ratioPrepared: round2(sdkStats.opsPerSec / preparedStats.opsPerSec)
        })
      }
    }

    // Both sides wrote through the same ledger: every level must still equal its movements.
    const { rows: drift } = await pool.query(`
      select count(*)::int as bad from stock_levels l
      where l.on_hand <> (select coalesce(sum(delta), 0) from stock_movements m
                          where m.sku = l.sku and m.location = l.location)`)
    const { rows: counts } = await pool.query(
      "select (select count(*) from stock_movements)::int as movements, (select count(*) from outbox)::int as events"
    )

    const machine = machineLine(before)
    console.log(
      `\nAdjustments on PostgreSQL ${database.serverVersion}, ${PRODUCTS} SKUs, pool of ${POOL_SIZE} on both sides, ` +
        `${SECONDS} s per side per cell after ${WARMUP_SECONDS} s of warm-up a side a variant, Node ${process.version}, ${machine}`
    )
    console.log(
      "raw = the same SQL over pg directly, unnamed; prep = the same, prepared under the SDK's names; " +
        "sdk = inv.stock.adjust() through the Promise facade; sdk/raw and sdk/prep = ratios of ops/s\n"
    )
    printThreeSides(rows, "writers", { variant: true, rawLatency: true })
    console.log(
      `\nbaseline: the SDK's own statements, recorded in this run; ` +
        `ledger check: ${drift[0].bad === 0 ? "every level equals its movements" : `${drift[0].bad} levels DRIFTED`}; ` +
        `${counts[0].movements} movements, ${counts[0].events} outbox events written\n`
    )
    console.log(
      JSON.stringify({
        ...runFacts("adjust", database, before),
        products: PRODUCTS,
        poolSize: POOL_SIZE,
        secondsPerSide: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        baseline: "recorded",
        ledgerOk: drift[0].bad === 0,
        results: rows
      })
    )
    if (drift[0].bad !== 0) process.exitCode = 1
  } finally {
    await pool?.end()
    await inv?.close()
    await grouped?.close()
    await database.drop()
  }
}

/**
 * Records what the SDK sends for one increase, one decrease and one keyed decrease (pg's
 * Client#query, which @effect/sql-pg calls) and compares it with the baseline's statements.
 */
await main()
