// Driving a load and summing it up, shared by the benchmarks that compare a side of ours with a
// raw baseline: each side is driven by the same seeded sequence, so the ratio compares like with like.

import http from "node:http"
import { cpus, loadavg, totalmem } from "node:os"

/** A small seeded generator, so every side gets the same sequence of SKUs and signs. */
export const mulberry32 = (seed) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export const round2 = (x) => Math.round(x * 100) / 100

export const pad = (value, width) => String(value).padStart(width)

/**
 * The machine as a run finds it: its load, and the CPU one process spends to sleep and wake once
 * (a 1 ms timer, the mean of 300). On a virtual machine a wake-up can cost several times what it
 * does on bare metal (39–143 µs here on 2026-12-07, minutes apart), and each request of a service that waits on a
 * database, a broker or a cache wakes several processes: two runs' absolute figures compare only
 * on machines with a like wake-up cost. The ratios, both sides run on the same machine, compare.
 */
export const machineBefore = async () => {
  const loadBefore = round2(loadavg()[0])
  const wakeUps = 300
  const start = process.cpuUsage()
  for (let i = 0; i < wakeUps; i++) await new Promise((resolve) => setTimeout(resolve, 1))
  const { user, system } = process.cpuUsage(start)
  return { loadBefore, wakeUpCpuUs: Math.round((user + system) / wakeUps) }
}

/** The machine, for the heading of a benchmark's table. */
export const machineLine = ({ loadBefore, wakeUpCpuUs }) =>
  `${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadBefore} before the run, ${wakeUpCpuUs} µs of CPU a wake-up`

/** What a benchmark's JSON line starts with: which benchmark, when, and on what. */
export const runFacts = (bench, database, { loadBefore, wakeUpCpuUs }) => ({
  bench,
  date: new Date().toISOString().slice(0, 10),
  node: process.version,
  postgres: database.serverVersion,
  cores: cpus().length,
  loadBefore,
  wakeUpCpuUs
})

/**
 * A numeric knob from the environment (`BENCH_SECONDS=3`), `fallback` when unset: a value that is
 * not a number of at least `min` stops the run (exit 2) with the variable's name, rather than running
 * with NaN and printing nonsense.
 */
export const numberKnob = (name, fallback, { min = 0, integer = false } = {}) => {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === "") return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value)))
    badKnob(name, raw, `${integer ? "a whole number" : "a number"} of at least ${min}`, fallback)
  return value
}

/** A knob set to what the script cannot run with: says which, what it takes, and stops (exit 2). */
export const badKnob = (name, raw, expected, fallback) => {
  console.error(`${name}=${raw}: expected ${expected}; unset it for the default (${fallback})`)
  process.exit(2)
}

/** The value at quantile `q` of an ascending array. */
export const percentile = (sorted, q) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN

/**
 * `concurrency` loops, each awaiting one `call(random, loop)` after another until `ms` have
 * passed; loop `w` draws from `mulberry32(seed * 1000 + w)`. `cpuUs` is this process's CPU time.
 */
export const runFor = async (ms, { concurrency, seed, call }) => {
  const latencies = []
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const deadline = started + ms
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const random = mulberry32(seed * 1000 + w)
      while (performance.now() < deadline) {
        const t0 = performance.now()
        await call(random, w)
        latencies.push(performance.now() - t0)
      }
    })
  )
  const cpu = process.cpuUsage(cpuBefore)
  return { ms: performance.now() - started, cpuUs: cpu.user + cpu.system, latencies }
}

/** Throughput and latency over the parts of one side (the segments `runFor` measured). */
export const summarize = (parts) => {
  const latencies = parts.flatMap((p) => p.latencies).sort((a, b) => a - b)
  const ms = parts.reduce((total, p) => total + p.ms, 0)
  const cpuUs = parts.reduce((total, p) => total + p.cpuUs, 0)
  return {
    ops: latencies.length,
    opsPerSec: Math.round((latencies.length / ms) * 1000),
    p50Ms: round2(percentile(latencies, 0.5)),
    p99Ms: round2(percentile(latencies, 0.99)),
    /** CPU time of this Node process (all its threads: JS, GC, I/O) per operation. */
    cpuUsPerOp: Math.round(cpuUs / (latencies.length || 1))
  }
}

/**
 * A JSON request to a service on 127.0.0.1 through `agent`, with the bearer `token`; answers the
 * status and the body's text. Fails when no answer comes within `timeoutMs`.
 */
export const jsonRequest =
  ({ agent, token, timeoutMs }) =>
  (port, method, path, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body)
      const req = http.request(
        {
          host: "127.0.0.1",
          port,
          method,
          path,
          agent,
          headers: {
            authorization: `Bearer ${token}`,
            ...(payload === undefined ? {} : { "content-type": "application/json" })
          }
        },
        (res) => {
          const chunks = []
          res.on("data", (chunk) => chunks.push(chunk))
          res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }))
          res.on("error", reject)
        }
      )
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs / 1000} s`))
      )
      req.on("error", reject)
      req.end(payload)
    })

/**
 * The raw side (unnamed), the raw side prepared and the SDK's, measured for each of `counts`
 * concurrent callers (`key` names the count in each row: `readers`, `callers`) in `segments`
 * alternating A-B-C-C-B-A-…, each side warmed up first (`warmupSeconds` a side, twice, at 8
 * callers): each row holds the three summaries and the SDK's ratios to the raw sides.
 * `runFor(ms, callers, seed, side)` drives one side.
 */
export const measureThreeSides = async ({ sides, counts, key, seconds, segments, warmupSeconds, runFor }) => {
  // Warm-up: JIT, the pools full, PostgreSQL's caches; not measured.
  for (const side of [sides.raw, sides.prepared, sides.sdk, sides.raw, sides.prepared, sides.sdk]) {
    await runFor(warmupSeconds * 500, 8, 1, side)
  }
  const rows = []
  const segment = (seconds * 1000) / segments
  for (const count of counts) {
    const parts = { raw: [], prepared: [], sdk: [] }
    for (let i = 0; i < segments; i++) {
      const order = i % 2 === 0 ? ["raw", "prepared", "sdk"] : ["sdk", "prepared", "raw"]
      for (const name of order) parts[name].push(await runFor(segment, count, count * 100 + i, sides[name]))
    }
    const raw = summarize(parts.raw)
    const rawPrepared = summarize(parts.prepared)
    const sdk = summarize(parts.sdk)
    rows.push({
      [key]: count,
      raw,
      rawPrepared,
      sdk,
      ratio: round2(sdk.opsPerSec / raw.opsPerSec),
      ratioPrepared: round2(sdk.opsPerSec / rawPrepared.opsPerSec)
    })
  }
  return rows
}

/**
 * The table of three-sided rows (`measureThreeSides`'s, or `bench/adjust.mjs`'s), printed: `key`
 * names the count of callers; `variant`, a first column of each row's variant; `rawLatency`, the raw
 * side's p50 and p99 beside the SDK's.
 */
export const printThreeSides = (rows, key, { variant = false, rawLatency = false } = {}) => {
  const latency = (side) => pad(`${side.p50Ms.toFixed(2)} / ${side.p99Ms.toFixed(2)}`, 16)
  const header = [
    ...(variant ? ["variant".padEnd(15)] : []),
    pad(key, 7),
    pad("raw ops/s", 10),
    pad("prep ops/s", 10),
    pad("sdk ops/s", 10),
    pad("sdk/raw", 8),
    pad("sdk/prep", 8),
    ...(rawLatency ? [pad("raw p50/p99 ms", 16)] : []),
    pad("sdk p50/p99 ms", 16),
    pad("node CPU µs/op raw/prep/sdk", 27)
  ].join("  ")
  console.log(header)
  console.log("-".repeat(header.length))
  for (const row of rows) {
    console.log(
      [
        ...(variant ? [row.variant.padEnd(15)] : []),
        pad(row[key], 7),
        pad(row.raw.opsPerSec, 10),
        pad(row.rawPrepared.opsPerSec, 10),
        pad(row.sdk.opsPerSec, 10),
        pad(`${row.ratio.toFixed(2)}×`, 8),
        pad(`${row.ratioPrepared.toFixed(2)}×`, 8),
        ...(rawLatency ? [latency(row.raw)] : []),
        latency(row.sdk),
        pad(`${row.raw.cpuUsPerOp} / ${row.rawPrepared.cpuUsPerOp} / ${row.sdk.cpuUsPerOp}`, 27)
      ].join("  ")
    )
  }
}
