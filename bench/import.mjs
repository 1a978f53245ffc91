import { execFileSync } from "node:child_process"
import { cpSync, createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { pipeline } from "node:stream/promises"
import { parseArgs } from "node:util"
import { Import, openInventory } from "@invkit/sdk"
import pg from "pg"
import { from as copyFrom } from "pg-copy-streams"
import { scratchDatabase } from "./scratchDatabase.mjs"

/** The counts import in a process of its own: opens the existing store, imports, reports. */
const EMBEDDED_COUNTS = `
import { createReadStream } from "node:fs"
import { Import, openInventory } from "@invkit/sdk"
import { ownPeakKb } from "./ownPeak.cjs"
process.umask(0o077)
const [dataDir, file] = process.argv.slice(1)
const inventory = await openInventory({ dataDir })
const rssBeforeMb = Math.round(process.memoryUsage().rss / 2 ** 20)
const started = performance.now()
const { applied } = await Import.importRows(inventory, createReadStream(file))
const seconds = (performance.now() - started) / 1000
await inventory.close()
const peakRssMb = Math.round(ownPeakKb() / 1024)
console.log(JSON.stringify({ applied, seconds, rssBeforeMb, peakRssMb }))
`

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "1000000" },
    "embedded-rows": { type: "string", default: "100000" },
    "embedded-runs": { type: "string", default: "3" }
  }
})
const ROWS = Number(args.rows)
const EMBEDDED_ROWS = Number(args["embedded-rows"])
const EMBEDDED_RUNS = Number(args["embedded-runs"])
const ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const sku = (n) => `P-${String(n).padStart(7, "0")}`

/** The stock file: `sku,location,quantity`, one row per product. */
const writeCounts = async (path, rows) => {
  const out = createWriteStream(path)
  out.write("sku,location,quantity\n")
  let chunk = []
  for (let i = 0; i < rows; i++) {
    chunk.push(`${sku(i)},default,${(i * 7919) % 1000}\n`)
    if (chunk.length === 10_000) {
      if (!out.write(chunk.join(""))) await new Promise((resolve) => out.once("drain", resolve))
      chunk = []
    }
  }
  out.end(chunk.join(""))
  await new Promise((resolve) => out.once("close", resolve))
}

/** Peak resident memory of this process while `work` runs, sampled every 20 ms. */
const measured = async (work) => {
  let peak = process.memoryUsage().rss
  const before = peak
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 20)
  const started = performance.now()
  const result = await work()
  const seconds = (performance.now() - started) / 1000
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage().rss)
  return { result, seconds, rssBeforeMb: before / 2 ** 20, peakRssMb: peak / 2 ** 20 }
}

const rawCopy = async (url, path) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(
      "drop table if exists raw_counts; create table raw_counts (sku text, location text, quantity integer)"
    )
    const run = await measured(() =>
      pipeline(
        createReadStream(path),
        client.query(copyFrom("copy raw_counts from stdin (format csv, header true)"))
      )
    )
    const { rows } = await client.query("select count(*)::int as n from raw_counts")
    if (rows[0].n !== ROWS) throw new Error(`COPY loaded ${rows[0].n} rows, not ${ROWS}`)
    return run
  } finally {
    await client.end()
  }
}

/** Runs `statement` timed, in seconds. */
const timed = async (client, statement) => {
  const started = performance.now()
  await client.query(statement)
  return (performance.now() - started) / 1000
}

/** A checkpoint before a measured write, so none of it pays for the previous one's dirty pages. */
const checkpoint = (client) => client.query("checkpoint").catch(() => {})

/**
 * The data model's floor: the rows of `raw_counts` written straight into the stock tables, as one
 * import would write them, with nothing of the importer around it (no parsing, staging, checks).
 * Each in a transaction that is rolled back, so the importer finds the tables as they were.
 *
 * - `current`: the tables as they are (levels whose references the writer checked before, as an
 *   import does; the ledger without foreign keys of its own; one `stock.imported` outbox row per
 *   1,000 levels, built as the importer builds it: the event's JSON text parsed once).
 * - `old`: the tables as they were before migration 0009, rebuilt in a scratch schema: per-row
 *   foreign keys from levels and ledger to products and locations, one `stock.updated` outbox row
 *   per level. What the importer wrote before; kept so its ratio stays honest.
 */
const rawFloor = async (url, shape) => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query("begin")
    await client.query("set local work_mem = '256MB'")
    // As the importer runs them: without compiling expressions (JIT) for rows each sees once.
    await client.query("set local jit = off")
    if (shape === "old") {
      await client.query(`
        create schema floor_old;
        create table floor_old.locations (like public.locations including all);
        insert into floor_old.locations select * from public.locations;
        create table floor_old.products (like public.products including all);
        insert into floor_old.products select * from public.products;
        create table floor_old.stock_levels (like public.stock_levels including all,
          foreign key (sku) references floor_old.products (sku),
          foreign key (location) references floor_old.locations (code));
        create table floor_old.stock_movements (like public.stock_movements including all,
          foreign key (sku) references floor_old.products (sku),
          foreign key (location) references floor_old.locations (code));
        create table floor_old.outbox (like public.outbox including all);
        set local search_path = floor_old, public;
        analyze floor_old.products`)
    } else {
      // As the importer writes them: rows whose references were checked before (migration 0013).
      await client.query("set local invkit.level_references_checked = 'on'")
    }
    await checkpoint(client)
    const levels = await timed(
      client,
      `insert into stock_levels (sku, location, on_hand, last_delta)
       select sku, location, quantity, quantity from raw_counts order by sku, location`
    )
    const movements = await timed(
      client,
      `insert into stock_movements (sku, location, delta, quantity_after, reason, reference)
       select sku, location, quantity, quantity, 'count', 'import:floor' from raw_counts order by sku, location`
    )
    const events = await timed(
      client,
      shape === "old"
        ? `insert into outbox (type, subject, data)
           select 'stock.updated', sku, jsonb_build_object('sku', sku, 'location', location, 'delta', quantity,
             'onHand', quantity, 'version', 1, 'reason', 'count', 'reference', 'import:floor', 'actor', null,
             'movementId', 0, 'at', now())
           from raw_counts order by sku, location`
        : `insert into outbox (type, subject, data)
           select 'stock.imported', 'floor', ('{"importId":"floor","reference":"import:floor","reason":"count","actor":null'
             || ',"at":' || to_json(now()) || ',"chunk":' || (chunk + 1) || ',"levels":'
             || '[' || string_agg('{"sku":' || to_json(sku) || ',"location":' || to_json(location)
               || ',"delta":' || quantity || ',"onHand":' || quantity || ',"version":' || 1 || '}',
               ',' order by sku, location) || ']' || '}')::jsonb
           from (select *, (row_number() over (order by sku, location) - 1) / 1000 as chunk from raw_counts) c
           group by chunk order by chunk`
    )
    return { levels, movements, events, seconds: levels + movements + events }
  } finally {
    await client.query("rollback").catch(() => {})
    await client.end()
  }
}

const directory = mkdtempSync(join(tmpdir(), "invkit-bench-import-"))
const database = await scratchDatabase(ADMIN_URL, "inv_bench_import")
const url = database.url
const results = {}
try {
  const file = join(directory, "counts.csv")
  await writeCounts(file, ROWS)
  const bytes = statSync(file).size
  console.error(
    `${ROWS.toLocaleString("en")} rows, ${(bytes / 2 ** 20).toFixed(1)} MiB; database ${database.name}`
  )

  const inventory = await openInventory({ databaseUrl: url })
  try {
    // Setup, not measured: the products the counts refer to.
    const seed = new pg.Client({ connectionString: url })
    await seed.connect()
    await seed.query(
      "insert into products (sku, name) select 'P-' || lpad(g::text, 7, '0'), 'Part ' || g from generate_series(0, $1 - 1) g",
      [ROWS]
    )
    await seed.query("analyze products")

    const copyBefore = await rawCopy(url, file)
    console.error(`COPY: ${copyBefore.seconds.toFixed(2)} s`)
    await seed.query("analyze raw_counts")
    const floor = await rawFloor(url, "current")
    console.error(`floor of the tables as they are: ${floor.seconds.toFixed(2)} s`)
    const oldFloor = await rawFloor(url, "old")
    console.error(`floor of the tables as they were: ${oldFloor.seconds.toFixed(2)} s`)
    // The floors' rolled-back rows stay in the tables as dead tuples until a vacuum: every insert
    // of the same key would visit them to check its uniqueness. The importer finds the tables as
    // the floor found them: clean.
    await seed.query("vacuum stock_levels, stock_movements, outbox")
    await checkpoint(seed)
    // When each phase began, from the importer's own progress events: reading ends when the rows
    // are staged (parsed, validated, hashed and copied into the staging table).
    const phases = {}
    const sdk = await measured(() => {
      const started = performance.now()
      return Import.importRows(inventory, createReadStream(file), {
        onProgress: ({ phase }) => {
          phases[phase] ??= (performance.now() - started) / 1000
        }
      })
    })
    if (sdk.result.applied !== ROWS)
      throw new Error(`the importer applied ${sdk.result.applied} rows, not ${ROWS}`)
    const phaseSeconds = {
      reading: phases.checking,
      checking: phases.applying - phases.checking,
      applying: sdk.seconds - phases.applying
    }
    console.error(
      `importer: ${sdk.seconds.toFixed(2)} s (reading ${phaseSeconds.reading.toFixed(2)}, checking ${phaseSeconds.checking.toFixed(2)}, applying ${phaseSeconds.applying.toFixed(2)})`
    )
    const copyAfter = await rawCopy(url, file)
    const { rows } = await seed.query(
      "select (select count(*)::int from stock_movements) as movements, (select count(*)::int from outbox where type = 'stock.imported') as events"
    )
    await seed.end()
    if (rows[0].movements !== ROWS || rows[0].events !== Math.ceil(ROWS / 1000))
      throw new Error("movements or events missing")
    const again = await measured(() => Import.importRows(inventory, createReadStream(file)))
    if (again.result.status !== "already-imported") throw new Error("a second run applied something")

    const copySeconds = (copyBefore.seconds + copyAfter.seconds) / 2
    results.postgres = {
      rows: ROWS,
      copyRowsPerSecond: Math.round(ROWS / copySeconds),
      importRowsPerSecond: Math.round(ROWS / sdk.seconds),
      ratio: Number((copySeconds / sdk.seconds).toFixed(3)),
      floorSeconds: Number(floor.seconds.toFixed(2)),
      floorRatio: Number((floor.seconds / sdk.seconds).toFixed(3)),
      floorParts: Object.fromEntries(
        ["levels", "movements", "events"].map((part) => [part, Number(floor[part].toFixed(2))])
      ),
      oldFloorSeconds: Number(oldFloor.seconds.toFixed(2)),
      oldFloorRatio: Number((oldFloor.seconds / sdk.seconds).toFixed(3)),
      oldFloorParts: Object.fromEntries(
        ["levels", "movements", "events"].map((part) => [part, Number(oldFloor[part].toFixed(2))])
      ),
      copySeconds: [copyBefore.seconds, copyAfter.seconds].map((s) => Number(s.toFixed(2))),
      importSeconds: Number(sdk.seconds.toFixed(2)),
      importPhases: Object.fromEntries(
        Object.entries(phaseSeconds).map(([phase, seconds]) => [phase, Number(seconds.toFixed(2))])
      ),
      importPeakRssMb: Math.round(sdk.peakRssMb),
      rssBeforeImportMb: Math.round(sdk.rssBeforeMb),
      secondRunSeconds: Number(again.seconds.toFixed(2))
    }
  } finally {
    await inventory.close()
  }

  // The embedded store as `inv import` uses it: a data directory. Products are imported first
  // (the store is created here), then the counts in a process of their own that opens the
  // existing store, so its peak memory is the import's and the open's, not initdb's.
  const embeddedFile = join(directory, "embedded.csv")
  await writeCounts(embeddedFile, EMBEDDED_ROWS)
  const products = join(directory, "products.csv")
  const out = createWriteStream(products)
  out.write("sku,name\n")
  for (let i = 0; i < EMBEDDED_ROWS; i++) out.write(`${sku(i)},Part ${i}\n`)
  out.end()
  await new Promise((resolve) => out.once("close", resolve))
  const dataDir = join(directory, "embedded-store")
  const embedded = await openInventory({ dataDir })
  let catalog
  try {
    catalog = await measured(() => Import.importRows(embedded, createReadStream(products)))
  } finally {
    await embedded.close()
  }
  // The counts import, EMBEDDED_RUNS times, each into a copy of the store as the products left it:
  // from one run to the next the same import moves by some 5% in speed and 20–100 MiB in peak
  // (V8's compiler threads and their allocator arenas, docs/benchmarks-log.md section 5), so one run
  // says little; the figures are the medians, with every run beside them.
  const runs = []
  for (let run = 0; run < EMBEDDED_RUNS; run++) {
    const copy = join(directory, `embedded-run-${run}`)
    cpSync(dataDir, copy, { recursive: true })
    const counts = JSON.parse(
      execFileSync(process.execPath, ["--input-type=module", "-e", EMBEDDED_COUNTS, copy, embeddedFile], {
        cwd: import.meta.dirname,
        encoding: "utf8"
      })
    )
    if (counts.applied !== EMBEDDED_ROWS) throw new Error("embedded import incomplete")
    runs.push(counts)
    rmSync(copy, { recursive: true, force: true })
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
  const rowsPerSecond = runs.map((counts) => Math.round(EMBEDDED_ROWS / counts.seconds))
  results.embedded = {
    rows: EMBEDDED_ROWS,
    productRowsPerSecond: Math.round(EMBEDDED_ROWS / catalog.seconds),
    countRowsPerSecond: median(rowsPerSecond),
    // The whole process's peak (Node, the SDK, PGlite open on the directory, the import).
    countPeakRssMb: median(runs.map((counts) => counts.peakRssMb)),
    // After opening the store, before the import.
    countRssBeforeMb: median(runs.map((counts) => counts.rssBeforeMb)),
    countRuns: runs.map((counts, run) => ({
      rowsPerSecond: rowsPerSecond[run],
      peakRssMb: counts.peakRssMb,
      rssBeforeMb: counts.rssBeforeMb
    }))
  }
} finally {
  rmSync(directory, { recursive: true, force: true })
  await database.drop()
}

const p = results.postgres
const e = results.embedded
console.log(`
Bulk import of stock counts (${cpus().length} cores, load ${loadavg()[0].toFixed(1)})

| store | rows | raw COPY rows/s | importer rows/s | importer/COPY | floor/importer | old floor/importer | importer peak RSS |
|---|---:|---:|---:|---:|---:|---:|---:|
| PostgreSQL | ${p.rows.toLocaleString("en")} | ${p.copyRowsPerSecond.toLocaleString("en")} | ${p.importRowsPerSecond.toLocaleString("en")} | ${p.ratio}× | ${p.floorRatio}× | ${p.oldFloorRatio}× | ${p.importPeakRssMb} MiB (${p.rssBeforeImportMb} before) |
| embedded (PGlite, a data directory) | ${e.rows.toLocaleString("en")} | – | ${e.countRowsPerSecond.toLocaleString("en")} | – | – | – | ${e.countPeakRssMb} MiB (${e.countRssBeforeMb} before) |

COPY runs (s): ${p.copySeconds.join(", ")}; importer ${p.importSeconds} s (reading ${p.importPhases.reading}, checking ${p.importPhases.checking}, applying ${p.importPhases.applying}); the same file again: ${p.secondRunSeconds} s (already imported).
Floor, the tables as they are: ${p.floorSeconds} s (levels ${p.floorParts.levels}, movements ${p.floorParts.movements}, events ${p.floorParts.events}).
Floor, the tables as they were: ${p.oldFloorSeconds} s (levels ${p.oldFloorParts.levels}, movements ${p.oldFloorParts.movements}, events ${p.oldFloorParts.events}).
Embedded counts, medians of ${e.countRuns.length} runs; each run: ${e.countRuns.map((run) => `${run.rowsPerSecond.toLocaleString("en")} rows/s at ${run.peakRssMb} MiB`).join(", ")}.
Embedded products import: ${e.productRowsPerSecond.toLocaleString("en")} rows/s.`)
console.log(JSON.stringify({ bench: "import", ...results }))
