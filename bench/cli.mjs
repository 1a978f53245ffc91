// Wall time and peak memory of one-shot `inv` commands on the embedded store (PGlite), each a fresh
// process, against baselines in the same run: a bare Node start (`node -e ""`), and a bare Node
// process that opens the same PGlite data directory and runs the same SQL. Commands are measured
// three ways: warm (the store process already runs, and has had a pause to warm up), cold (none
// runs: the command starts it) and in-process (INV_STORE_PROCESS=off, every command opens the store
// itself); and a `get` sent right after the cold one, before the store process's warm-up. Prints a table and one
// JSON line (starting with {"bench":"cli"}); see docs/benchmarks.md. Needs `pnpm build` first.
//
//   node bench/cli.mjs                  # BENCH_RUNS=5 runs per command, BENCH_FRESH_RUNS=3 fresh stores
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { numberKnob } from "./load.mjs"

const here = dirname(fileURLToPath(import.meta.url))
const BIN = join(here, "..", "packages", "cli", "dist", "bin.js")
const RUNS = numberKnob("BENCH_RUNS", 5, { min: 1, integer: true })
/** A fresh data directory costs an initdb (seconds), so fewer of those. */
const FRESH_RUNS = numberKnob("BENCH_FRESH_RUNS", 3, { integer: true })
const SKU = "SKU-1"

if (!existsSync(BIN)) {
  console.error("bench/cli.mjs: packages/cli/dist/bin.js is missing; run `pnpm build` first.")
  process.exit(1)
}

// ---------------------------------------------------------------------------------------------
// The raw baselines: PGlite itself, opened by a bare Node process, doing the command's SQL.
// `inv stock get` reads one product's levels; `inv stock set` is one transaction with the level
// upsert, the ledger row and the outbox row (the statement of packages/sdk/src/Stock.ts).

const RAW_OPEN = `
import { PGlite } from "@electric-sql/pglite"
const [mode, dataDir, sku] = process.argv.slice(1)
// As inv does: the files PostgreSQL writes stay private. With the default umask the next inv
// command would find the store readable by others and pay for making it private again.
process.umask(0o077)
const db = await PGlite.create({ dataDir })
if (mode === "get") {
  await db.query(
    \`select p.name, p.reorder_point, l.location, l.on_hand, l.reserved, l.on_hand - l.reserved as available,
            l.version, l.updated_at
     from products p left join stock_levels l on l.sku = p.sku
     where p.sku = $1 order by l.location\`, [sku])
} else if (mode === "set") {
  await db.transaction(async (tx) => {
    const { rows } = await tx.query(\`
      with level as (
        insert into stock_levels as s (sku, location, on_hand, last_delta)
        values ($1, 'default', $2, $2)
        on conflict (sku, location) do update
          set on_hand = excluded.on_hand, last_delta = excluded.on_hand - s.on_hand,
              version = s.version + 1, updated_at = now()
        returning sku, location, on_hand, reserved, last_delta, version),
      movement as (
        insert into stock_movements (sku, location, delta, quantity_after, reason)
        select sku, location, last_delta, on_hand, 'count' from level
        returning id, sku, location, delta, quantity_after, reason, created_at),
      event as (
        insert into outbox (type, subject, data)
        select 'stock.updated', m.sku, jsonb_build_object('sku', m.sku, 'delta', m.delta,
          'onHand', m.quantity_after, 'version', l.version, 'movementId', m.id, 'at', m.created_at)
        from movement m cross join level l returning event_id)
      select m.id, l.on_hand, l.version from movement m cross join level l\`, [sku, 40])
    if (rows.length !== 1) throw new Error("raw set wrote nothing")
  })
} else {
  await db.query("select 1")
}
await db.close()
`

// ---------------------------------------------------------------------------------------------

// The embedded store only: a PostgreSQL URL in the environment would win over --data-dir.
const childEnv = { ...process.env, NO_COLOR: "1" }
delete childEnv.INV_DATABASE_URL

const root = mkdtempSync(join(tmpdir(), "inv-bench-cli-"))

// Peak memory: a run of its own with this preloaded, which writes the process's own peak RSS (KB)
// on exit to the file BENCH_PEAK_FILE names; the timed runs load nothing extra.
const PEAK_PRELOAD = fileURLToPath(new URL("./ownPeak.cjs", import.meta.url))

/** Runs a process to its end; answers its wall time in ms. Any failure stops the bench. */
const timed = (args, label, env = {}) => {
  const started = performance.now()
  const result = spawnSync(process.execPath, args, {
    cwd: here,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 120_000,
    env: { ...childEnv, ...env }
  })
  const ms = performance.now() - started
  if (result.status !== 0) {
    throw new Error(
      `${label} failed (exit ${result.status ?? result.signal}):\n${result.stderr}${result.stdout}`
    )
  }
  return ms
}

/** The peak RSS in MB of one run of the process (not of the store process it may start). */
const peakMb = (args, label, env = {}) => {
  const file = join(root, "peak.txt")
  timed(["--require", PEAK_PRELOAD, ...args], label, { ...env, BENCH_PEAK_FILE: file })
  return Math.round(Number(readFileSync(file, "utf8")) / 1024)
}

/** The store process of `dir`: its pid from `inv store status`, and its peak RSS in MB (Linux). */
const storeProcessPeakMb = (dir) => {
  const result = spawnSync(process.execPath, [BIN, "--json", "--data-dir", dir, "store", "status"], {
    encoding: "utf8",
    env: childEnv
  })
  const { pid } = JSON.parse(result.stdout)
  if (pid === null) return null
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return hwm ? Math.round(Number(hwm[1]) / 1024) : null
  } catch {
    return null
  }
}

const stopStoreProcess = (dir) => timed([BIN, "--data-dir", dir, "store", "stop"], "inv store stop")

const inv = (args) => [BIN, ...args]
const sleep = (ms) => new Promise((done) => setTimeout(done, ms))
/** How long a warm command waits after the one before: a pause, as between commands typed. */
const WARM_PAUSE_MS = 1000
const raw = (mode, dataDir) => ["--input-type=module", "-e", RAW_OPEN, mode, dataDir, SKU]

const stats = (times) => {
  const sorted = [...times].sort((a, b) => a - b)
  const median =
    sorted.length % 2 === 1
      ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2
  return {
    runs: sorted.length,
    medianMs: Math.round(median),
    minMs: Math.round(sorted[0]),
    maxMs: Math.round(sorted.at(-1))
  }
}

const results = []
const IN_PROCESS = { INV_STORE_PROCESS: "off" }
try {
  const nodeTimes = []
  const helpTimes = []
  // Warm the OS file cache (Node, the CLI bundle, PGlite's WASM) before measuring anything.
  timed(["-e", ""], "node -e")
  timed(inv(["--help"]), "inv --help")

  for (let i = 0; i < RUNS; i++) {
    nodeTimes.push(timed(["-e", ""], "node -e"))
    helpTimes.push(timed(inv(["--help"]), "inv --help"))
  }
  const node = stats(nodeTimes)
  results.push({ command: 'node -e ""', baseline: "-", cli: node, base: null })
  results.push({ command: "inv --help", baseline: 'node -e ""', cli: stats(helpTimes), base: node })

  // First run on a fresh data directory: initdb + migrations (+ the product), against PGlite's own
  // initdb. The command starts the store process, which is stopped after each run.
  const firstTimes = []
  const rawFirstTimes = []
  const firstStorePeaks = []
  for (let i = 0; i < FRESH_RUNS; i++) {
    const dir = join(root, `fresh-${i}`)
    firstTimes.push(
      timed(inv(["product", "add", SKU, "--name", "Widget", "--data-dir", dir]), "inv product add (fresh)")
    )
    firstStorePeaks.push(storeProcessPeakMb(dir))
    stopStoreProcess(dir)
    rawFirstTimes.push(timed(raw("open", join(root, `raw-fresh-${i}`)), "raw PGlite initdb"))
  }
  const rawFirstPeak = peakMb(raw("open", join(root, "raw-fresh-peak")), "raw PGlite initdb (peak)")
  results.push({
    command: "inv product add (fresh dir)",
    baseline: "PGlite initdb",
    cli: stats(firstTimes),
    base: stats(rawFirstTimes),
    peakMb: Math.max(...firstStorePeaks.filter((peak) => peak !== null)),
    basePeakMb: rawFirstPeak,
    peakOf: "store process"
  })

  // Later runs on an existing store, interleaved with the raw PGlite doing the same SQL there:
  // cold (the command starts the store process), warm (it runs), in-process (INV_STORE_PROCESS=off).
  const dir = join(root, "fresh-0")
  timed(inv(["stock", "set", SKU, "40", "--data-dir", dir]), "inv stock set (warm-up)")
  const times = {
    coldGet: [],
    nextGet: [],
    warmGet: [],
    warmSet: [],
    hereGet: [],
    hereSet: [],
    rawGet: [],
    rawSet: []
  }
  for (let i = 0; i < RUNS; i++) {
    stopStoreProcess(dir)
    times.coldGet.push(timed(inv(["stock", "get", SKU, "--data-dir", dir]), "inv stock get (cold)"))
    times.nextGet.push(timed(inv(["stock", "get", SKU, "--data-dir", dir]), "inv stock get (next)"))
    // A store process that runs: it warms up once its calls pause (storeProcessCore.ts, warmUp).
    await sleep(WARM_PAUSE_MS)
    times.warmGet.push(timed(inv(["stock", "get", SKU, "--data-dir", dir]), "inv stock get (warm)"))
    times.warmSet.push(timed(inv(["stock", "set", SKU, "40", "--data-dir", dir]), "inv stock set (warm)"))
    stopStoreProcess(dir)
    times.rawGet.push(timed(raw("get", dir), "raw PGlite get"))
    times.rawSet.push(timed(raw("set", dir), "raw PGlite set"))
    times.hereGet.push(
      timed(inv(["stock", "get", SKU, "--data-dir", dir]), "inv stock get (in-process)", IN_PROCESS)
    )
    times.hereSet.push(
      timed(inv(["stock", "set", SKU, "40", "--data-dir", dir]), "inv stock set (in-process)", IN_PROCESS)
    )
  }
  // Peak memory, one run each: the command's own process.
  const peaks = {
    rawGet: peakMb(raw("get", dir), "raw PGlite get (peak)"),
    rawSet: peakMb(raw("set", dir), "raw PGlite set (peak)"),
    hereGet: peakMb(
      inv(["stock", "get", SKU, "--data-dir", dir]),
      "inv stock get (in-process, peak)",
      IN_PROCESS
    ),
    hereSet: peakMb(
      inv(["stock", "set", SKU, "40", "--data-dir", dir]),
      "inv stock set (in-process, peak)",
      IN_PROCESS
    )
  }
  timed(inv(["stock", "get", SKU, "--data-dir", dir]), "inv stock get (starts the store process)")
  await sleep(WARM_PAUSE_MS)
  peaks.warmGet = peakMb(inv(["stock", "get", SKU, "--data-dir", dir]), "inv stock get (warm, peak)")
  peaks.warmSet = peakMb(inv(["stock", "set", SKU, "40", "--data-dir", dir]), "inv stock set (warm, peak)")
  const storePeak = storeProcessPeakMb(dir)
  stopStoreProcess(dir)

  const rawGet = stats(times.rawGet)
  const rawSet = stats(times.rawSet)
  const row = (command, baseline, cli, base, peak, basePeak) =>
    results.push({ command, baseline, cli: stats(cli), base, peakMb: peak, basePeakMb: basePeak })
  row("inv stock get (warm)", "PGlite open + query", times.warmGet, rawGet, peaks.warmGet, peaks.rawGet)
  row("inv stock set (warm)", "PGlite open + write", times.warmSet, rawSet, peaks.warmSet, peaks.rawSet)
  row("inv stock get (cold)", "PGlite open + query", times.coldGet, rawGet, null, peaks.rawGet)
  row("inv stock get (next)", "PGlite open + query", times.nextGet, rawGet, null, peaks.rawGet)
  row("inv stock get (in-process)", "PGlite open + query", times.hereGet, rawGet, peaks.hereGet, peaks.rawGet)
  row("inv stock set (in-process)", "PGlite open + write", times.hereSet, rawSet, peaks.hereSet, peaks.rawSet)
  results.push({ command: "PGlite open + query", baseline: 'node -e ""', cli: rawGet, base: node })

  for (const r of results) {
    r.ratio = r.base ? Math.round((r.cli.medianMs / r.base.medianMs) * 100) / 100 : null
    r.vsNode = Math.round((r.cli.medianMs / node.medianMs) * 100) / 100
  }

  const col = (value, width) => String(value).padStart(width)
  const range = (s) => `${s.minMs}–${s.maxMs}`
  console.log(
    `\ninv on the embedded store (PGlite), one process per command, median of ${RUNS} runs ` +
      `(${FRESH_RUNS} for fresh directories); Node ${process.version}, ${cpus().length} cores, ` +
      `load average ${loadavg()[0].toFixed(1)} at the end\n`
  )
  const header = [
    "command".padEnd(28),
    col("median ms", 9),
    col("min–max", 11),
    "baseline".padEnd(20),
    col("base ms", 7),
    col("ratio", 6),
    col("× node", 7),
    col("peak MB", 7),
    col("base MB", 7)
  ].join("  ")
  console.log(header)
  console.log("-".repeat(header.length))
  for (const r of results) {
    console.log(
      [
        r.command.padEnd(28),
        col(r.cli.medianMs, 9),
        col(range(r.cli), 11),
        r.baseline.padEnd(20),
        col(r.base ? r.base.medianMs : "-", 7),
        col(r.ratio === null ? "-" : `${r.ratio.toFixed(2)}×`, 6),
        col(`${r.vsNode.toFixed(2)}×`, 7),
        col(r.peakMb ?? "-", 7),
        col(r.basePeakMb ?? "-", 7)
      ].join("  ")
    )
  }
  console.log(
    "\nwarm = a store process that runs and has had a pause of 1 s; next = sent right after the cold one" +
      '\nratio = command / its baseline (median); × node = command / bare `node -e ""` (median); peak MB =' +
      " the command's own process (for a fresh directory: the store process it starts), base MB = the baseline's" +
      `\nthe store process after the runs: peak ${storePeak ?? "?"} MB\n`
  )
  console.log(
    JSON.stringify({
      bench: "cli",
      date: new Date().toISOString().slice(0, 10),
      node: process.version,
      cores: cpus().length,
      loadAverage: Math.round(loadavg()[0] * 10) / 10,
      runs: RUNS,
      freshRuns: FRESH_RUNS,
      storeProcessPeakMb: storePeak,
      results: results.map(({ command, baseline, cli, base, ratio, vsNode, peakMb, basePeakMb }) => ({
        command,
        baseline,
        ...cli,
        baseMedianMs: base?.medianMs ?? null,
        ratio,
        vsNode,
        peakMb: peakMb ?? null,
        basePeakMb: basePeakMb ?? null
      }))
    })
  )
} finally {
  // No store process outlives the run: each data directory's is stopped before it is removed.
  for (const entry of readdirSync(root)) {
    if (existsSync(join(root, entry, "inv.sock")))
      spawnSync(process.execPath, [BIN, "--data-dir", join(root, entry), "store", "stop"], { env: childEnv })
  }
  rmSync(root, { recursive: true, force: true })
}
