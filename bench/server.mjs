// Server mode on PostgreSQL, RabbitMQ and Redis: the built services (packages/server/dist/bin.js)
// run as child processes on 127.0.0.1, each figure beside a baseline measured in the same run.
// The run has its own database, its own RabbitMQ virtual host (made with rabbitmqctl when it can;
// otherwise the default one, shared: other consumers of the same queues would take some events)
// and its own SKUs in Redis (whose keys it deletes afterwards).
//
//   1. adjustments/s over HTTP (stock-updater) at 32 connections against the same transaction
//      (level, ledger, outbox) sent with pg at 32 concurrent callers on a pool of the server's size;
//      then the same at 256 callers on 10 SKUs (hot rows); the consumers' CPU per event of it.
//      The raw transactions go to a database of their own with the same tables and levels, which
//      no relay reads: the baseline is the transaction alone, and the services fan out only the
//      events of their own adjustments (in one database the raw side's events, three in four of
//      the run, were relayed and consumed during the HTTP side's time and counted on its CPU).
//      The 32-connection comparison also runs the framework's floor of an adjustment: a minimal
//      HttpApi POST endpoint decoding the same fields and answering an adjustment's bytes, with no
//      store (bench/frameworkFloor.mjs), so the platform's own share is in the same run;
//   2. cached level reads/s (stock-checker, answered from Redis) against a bare Node HTTP server
//      answering a constant JSON body of the same bytes, and against the framework's floor (a
//      minimal @effect/platform HttpApi endpoint answering those bytes, bench/frameworkFloor.mjs),
//      same client, same concurrency;
//   3. update-to-visible delay: an adjustment acknowledged by stock-updater until stock-checker
//      shows the new level (outbox relay → RabbitMQ → cache invalidation → next read).
//
// Prints a table and one JSON line (starting with {"bench":"server"}); see docs/benchmarks.md.
//
//   pnpm build && node bench/server.mjs
//   BENCH_PARTS=read node bench/server.mjs      (only part 2; any of adjust,read,visible)
//   BENCH_PG_URL=postgres://…/db BENCH_RABBITMQ_URL=amqp://… BENCH_REDIS_URL=redis://… node bench/server.mjs
//
// The database inv_bench_server_<random> and the virtual host are removed after the run, and the
// services stopped (SIGTERM, then SIGKILL), also when the run fails.
import { execFile, execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import http from "node:http"
import { connect, createServer } from "node:net"
import { performance } from "node:perf_hooks"
import { setTimeout as sleep } from "node:timers/promises"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { openInventory } from "@invkit/sdk"
import { queryOf, recordAdjustStatements } from "./adjustStatements.mjs"
import {
  badKnob,
  jsonRequest,
  machineBefore,
  machineLine,
  mulberry32,
  numberKnob,
  pad,
  percentile,
  round2,
  runFacts,
  runFor as runLoops,
  summarize
} from "./load.mjs"
import { rawPool, requireLocal, scratchDatabase } from "./scratchDatabase.mjs"

const ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const RABBITMQ_URL = process.env.BENCH_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379"
/** Measured seconds per side for parts 1 and 2, split in SEGMENTS run in A-B-B-A-A-B-B-A order. */
const SECONDS = numberKnob("BENCH_SECONDS", 3, { min: 0.1 })
const SEGMENTS = 4
/**
 * Unmeasured load on each side before its part, in seconds. A service process started fresh runs
 * its first tens of thousands of requests partly unoptimised (V8 compiles its hot functions as
 * they prove hot): the figures are of processes past that, as a deployment's are.
 */
const WARMUP_SECONDS = numberKnob("BENCH_WARMUP_SECONDS", 20)
const CONCURRENCY = 32
/** The hot-row load of part 1: many callers on few SKUs. */
const HOT_CONCURRENCY = 256
const HOT_SKUS = 10
/** Update-to-visible samples (part 3). */
const SAMPLES = numberKnob("BENCH_SAMPLES", 50, { integer: true })
/**
 * stock-checker's cache: `redis` (the shared cache every instance reads, which a write empties
 * before it is answered) or `memory` (its own, emptied by the events, as without Redis).
 */
const CHECKER_CACHE = process.env.BENCH_CHECKER_CACHE ?? "redis"
if (CHECKER_CACHE !== "redis" && CHECKER_CACHE !== "memory")
  badKnob("BENCH_CHECKER_CACHE", CHECKER_CACHE, "redis or memory", "redis")
/** Which parts run: adjust (1), read (2), visible (3); all by default. */
const PARTS = new Set((process.env.BENCH_PARTS ?? "adjust,read,visible").split(",").map((p) => p.trim()))
for (const part of PARTS) {
  if (!["adjust", "read", "visible"].includes(part))
    throw new Error(`BENCH_PARTS: unknown part ${part} (the parts are adjust, read, visible)`)
}
const POLL_MS = 2
const PRODUCTS = 100
const INITIAL_STOCK = 1_000_000
/** Added behind the cache's back during the reads (part 2), taken off after them. */
const OFFSET = 1000
/** The services' pool: the SDK leaves pg's default of 10 connections (see bench/adjust.mjs). */
const POOL_SIZE = 10
const BIN = fileURLToPath(new URL("../packages/server/dist/bin.js", import.meta.url))

const runId = randomBytes(3).toString("hex")
const skus = Array.from({ length: PRODUCTS }, (_, i) => `BS${runId}-${String(i + 1).padStart(3, "0")}`)
const hotSkus = skus.slice(0, HOT_SKUS)
/** Not in the load: adjusted once after a burst to see when stock-checker's consumer caught up. */
const MARKER = `BS${runId}-marker`

// The raw baseline: the SDK's own statements for an adjustment, recorded at the start of the run
// (bench/adjustStatements.mjs).
const REASON = "sale"
/** Over HTTP the actor is the token's subject; the baseline records the same. */
const ACTOR = "bench"

/**
 * One adjustment with bare pg: the SDK's one statement alone when the SDK sends it alone (it is
 * one statement: PostgreSQL commits it on its own), else BEGIN, the statement, COMMIT. Unnamed, or
 * `prepared` under the SDK's name for it (bench/adjustStatements.mjs).
 */
const rawAdjust = async (pool, statements, sku, delta, prepared = false) => {
  const change = delta > 0 ? statements.increase : statements.decrease
  const query = queryOf(
    prepared,
    change.text,
    change.name,
    change.params({ sku, delta, actor: ACTOR, key: null })
  )
  if (statements.unkeyedAlone) {
    const { rows } = await pool.query(query)
    if (rows[0] === undefined) throw new Error(`raw baseline: adjustment of ${sku} by ${delta} declined`)
    return rows[0]
  }
  const client = await pool.connect()
  try {
    await client.query("BEGIN")
    const { rows } = await client.query(query)
    if (rows[0] === undefined) throw new Error(`raw baseline: adjustment of ${sku} by ${delta} declined`)
    await client.query("COMMIT")
    return rows[0]
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {})
    throw error
  } finally {
    client.release()
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP client: node:http with a keep-alive agent of CONCURRENCY sockets, for every side.

const JWT_SECRET = randomBytes(48).toString("base64")
const TOKEN = execFileSync(
  process.execPath,
  [BIN, "token", "create", "--role", "operator", "--subject", "bench"],
  {
    env: { ...process.env, INV_JWT_SECRET: JWT_SECRET },
    encoding: "utf8"
  }
).trim()

// As many sockets as the most callers of any part: each caller has a connection of its own.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 })

/**
 * One request. A connection the server closed as it was reused (keep-alive's race) is an error
 * for a write, counted as a failed request (status 0); a read is sent again once.
 */
const request = (port, method, path, body) =>
  requestOnce(port, method, path, body).catch((error) => {
    if (error.code !== "ECONNRESET") throw error
    return method === "GET"
      ? requestOnce(port, method, path, body)
      : { status: 0, text: `${method} ${path}: ${error.message}` }
  })

// The services check a JWT on every request, as in production (the bare baseline ignores it).
const requestOnce = jsonRequest({ agent, token: TOKEN, timeoutMs: 10_000 })

const expectOk = async (port, method, path, body) => {
  const res = await request(port, method, path, body)
  if (res.status !== 200)
    throw new Error(`${method} ${path} answered ${res.status}: ${res.text.slice(0, 300)}`)
  return res.text
}

// ---------------------------------------------------------------------------------------------
// Child processes

const children = []
/** Warnings and errors the services logged during the run. */
const warnings = []
/** Set when the services are told to stop: what they log while shutting down is not counted. */
let stopping = false

const freePort = () =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.on("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })

/** Starts a child and keeps the tail of its output for the error message if it fails. */
const startChild = (name, args, env) => {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const tail = []
  const keep = (chunk) => {
    for (const line of chunk.toString().split("\n").filter(Boolean)) {
      tail.push(line)
      if (!stopping && /"logLevel":"(WARN|ERROR|FATAL)"/.test(line))
        warnings.push(`${name}: ${line.slice(0, 300)}`)
    }
    if (tail.length > 20) tail.splice(0, tail.length - 20)
  }
  child.stdout.on("data", keep)
  child.stderr.on("data", keep)
  const entry = { name, child, tail, exited: false }
  child.on("exit", () => {
    entry.exited = true
  })
  children.push(entry)
  return entry
}

const waitReady = async (entry, port, path = "/ready") => {
  const deadline = performance.now() + 30_000
  while (performance.now() < deadline) {
    if (entry.exited) break
    try {
      const res = await request(port, "GET", path)
      if (res.status === 200) return
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
  throw new Error(
    `${entry.name} ${entry.exited ? "exited" : "not ready within 30 s"}; its last lines:\n  ${entry.tail.join("\n  ")}`
  )
}

const stopChildren = async () => {
  stopping = true
  await Promise.all(
    children.map(async (entry) => {
      if (entry.exited) return
      const exited = new Promise((resolve) => entry.child.once("exit", resolve))
      entry.child.kill("SIGTERM")
      const timer = setTimeout(() => entry.child.kill("SIGKILL"), 12_000)
      await exited
      clearTimeout(timer)
    })
  )
}

// ---------------------------------------------------------------------------------------------
// Isolation on the shared broker and cache

const run = promisify(execFile)

/** A virtual host of the run's own, when rabbitmqctl can make one; else the default one. */
const isolatedBroker = async () => {
  const vhost = `inv_bench_server_${runId}`
  const user = decodeURIComponent(new URL(RABBITMQ_URL).username || "guest")
  try {
    await run("rabbitmqctl", ["-q", "add_vhost", vhost], { timeout: 30_000 })
    await run("rabbitmqctl", ["-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"], {
      timeout: 30_000
    })
  } catch (error) {
    console.error(
      `no virtual host of its own (${String(error.message).split("\n")[0]}); using the default one, shared`
    )
    return { url: RABBITMQ_URL, vhost: "/", remove: async () => undefined }
  }
  const url = new URL(RABBITMQ_URL)
  url.pathname = `/${encodeURIComponent(vhost)}`
  return {
    url: url.toString(),
    vhost,
    remove: () =>
      run("rabbitmqctl", ["-q", "delete_vhost", vhost], { timeout: 30_000 }).catch(() => undefined)
  }
}

/** The run's namespace in Redis (INV_REDIS_PREFIX), so its keys are known and deleted afterwards. */
const REDIS_PREFIX = `inv-bench-${runId}`

/** Deletes the run's keys (entries, indexes and generations per SKU). */
const deleteRedisKeys = (skuList) =>
  new Promise((resolve) => {
    const url = new URL(REDIS_URL)
    const db = url.pathname.length > 1 ? url.pathname.slice(1) : "0"
    const keys = skuList.flatMap((sku) => [
      `${REDIS_PREFIX}:cache:entry:${JSON.stringify(["level?", sku])}`,
      `${REDIS_PREFIX}:cache:index:sku:${sku}`,
      `${REDIS_PREFIX}:cache:generation:sku:${sku}`
    ])
    const resp = (args) =>
      `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`
    const socket = connect(Number(url.port || 6379), url.hostname)
    const done = () => {
      socket.destroy()
      resolve()
    }
    socket.setTimeout(5_000, done)
    socket.on("error", done)
    let replies = ""
    socket.on("data", (chunk) => {
      replies += chunk.toString()
      // SELECT answers +OK, DEL an :integer; QUIT +OK.
      if (/:\d+\r\n/.test(replies)) done()
    })
    const auth = url.password
      ? resp(["AUTH", decodeURIComponent(url.username || "default"), decodeURIComponent(url.password)])
      : ""
    socket.on("connect", () => socket.write(auth + resp(["SELECT", db]) + resp(["DEL", ...keys])))
  })

// ---------------------------------------------------------------------------------------------
// Driving the load

/** `concurrency` loops, each awaiting one call on a random one of `among` (by ±1) after another. */
const runFor = (ms, seed, call, { concurrency = CONCURRENCY, among = skus } = {}) =>
  runLoops(ms, {
    concurrency,
    seed,
    call: (random) => {
      const sku = among[Math.floor(random() * among.length)]
      return call(sku, random() < 0.5 ? -1 : 1)
    }
  })

/** A side's throughput and latency, with CPU ms per operation of the client, each service and the machine. */
const summarizeWithCpu = (parts, cpu = {}) => {
  const { cpuUsPerOp: _clientOnly, ...stats } = summarize(parts)
  const ms = parts.reduce((total, p) => total + p.ms, 0)
  return {
    ...stats,
    cpuMsPerOp: Object.fromEntries(
      Object.entries(cpu).map(([name, cpuMs]) => [name, round2(cpuMs / (stats.ops || 1))])
    ),
    /** The machine's busy CPU time over the measured time: 2.0 = both cores of 2 busy. */
    coresBusy: cpu.machine === undefined ? undefined : round2(cpu.machine / ms)
  }
}

/** The sides in A-B-C-C-B-A-A-B-C… order (each as often first as last), SECONDS per side in total. */
const compare = async (seedBase, sides, load) => {
  const parts = sides.map(() => [])
  const cpu = sides.map(() => ({}))
  const segment = (SECONDS * 1000) / SEGMENTS
  for (let i = 0; i < SEGMENTS; i++) {
    const order = sides.map((_, k) => k)
    if (i % 2 === 1) order.reverse()
    for (const k of order) {
      const before = cpuSnapshot()
      parts[k].push(await runFor(segment, seedBase + i, sides[k], load))
      addCpu(cpu[k], before, cpuSnapshot())
    }
  }
  return sides.map((_, k) => summarizeWithCpu(parts[k], cpu[k]))
}

// CPU time per operation, from /proc (Linux; left out elsewhere): this process (the client),
// each service, and the whole machine's busy time (PostgreSQL, RabbitMQ, Redis and the rest).
const TICK_MS = 10
const readTicks = (pid) => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS
  } catch {
    return undefined
  }
}
const machineBusyMs = () => {
  try {
    const ticks = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number)
    const idle = ticks[3] + ticks[4]
    return (ticks.reduce((total, t) => total + t, 0) - idle) * TICK_MS
  } catch {
    return undefined
  }
}
// The engines' processes, by the name the kernel gives them: every PostgreSQL process (backends,
// WAL writer, checkpointer), the Erlang VM that runs RabbitMQ, and Redis. What the machine spends
// beside the client and the services, taken apart.
const ENGINES = { postgres: "postgres", "beam.smp": "rabbitmq", "redis-server": "redis" }
const enginesMs = () => {
  const total = { postgres: 0, rabbitmq: 0, redis: 0 }
  let pids
  try {
    pids = readdirSync("/proc").filter((name) => /^[0-9]+$/.test(name))
  } catch {
    return {}
  }
  for (const pid of pids) {
    let stat
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    } catch {
      continue // it exited meanwhile
    }
    const engine = ENGINES[stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))]
    if (engine === undefined) continue
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    total[engine] += (Number(fields[11]) + Number(fields[12])) * TICK_MS
  }
  return total
}
const cpuSnapshot = () => {
  const own = process.cpuUsage()
  const snapshot = { client: (own.user + own.system) / 1000, machine: machineBusyMs(), ...enginesMs() }
  for (const entry of children) if (!entry.exited) snapshot[entry.name] = readTicks(entry.child.pid)
  return snapshot
}
const addCpu = (total, before, after) => {
  for (const [name, value] of Object.entries(after)) {
    if (value !== undefined && before[name] !== undefined)
      total[name] = (total[name] ?? 0) + value - before[name]
  }
}

/**
 * WARMUP_SECONDS of unmeasured load on one side, in windows of WARMUP_WINDOW_SECONDS whose rate and
 * CPU per operation of `service` are answered: how fast a fresh process gets to its steady speed.
 */
const WARMUP_WINDOW_SECONDS = 2
const warmUp = async (call, service) => {
  const windows = []
  const count = WARMUP_SECONDS === 0 ? 0 : Math.max(1, Math.round(WARMUP_SECONDS / WARMUP_WINDOW_SECONDS))
  for (let i = 0; i < count; i++) {
    const before = cpuSnapshot()
    const part = await runFor((WARMUP_SECONDS * 1000) / count, 1, call)
    const cpu = {}
    addCpu(cpu, before, cpuSnapshot())
    const ops = part.latencies.length
    windows.push({
      second: round2(((i + 1) * WARMUP_SECONDS) / count),
      opsPerSec: Math.round((ops / part.ms) * 1000),
      cpuMsPerOp: cpu[service] === undefined ? undefined : round2(cpu[service] / (ops || 1))
    })
  }
  return windows
}
const warmUpLine = (label, windows) =>
  `  ${label}: ${windows.map((w) => `${w.second} s ${w.opsPerSec}/s${w.cpuMsPerOp === undefined ? "" : ` ${w.cpuMsPerOp} ms`}`).join(", ")}`

/** Waits until the relay has published every outbox row; answers the seconds it took. */
const drainOutbox = async (pool) => {
  const started = performance.now()
  const deadline = started + 30_000
  while (performance.now() < deadline) {
    const { rows } = await pool.query("select count(*)::int as n from outbox where sent_at is null")
    if (rows[0].n === 0) return round2((performance.now() - started) / 1000)
    await sleep(50)
  }
  throw new Error("the outbox relay did not publish the backlog within 30 s")
}

// ---------------------------------------------------------------------------------------------

const main = async () => {
  requireLocal("BENCH_RABBITMQ_URL", RABBITMQ_URL)
  requireLocal("BENCH_REDIS_URL", REDIS_URL)
  if (!existsSync(BIN)) throw new Error("packages/server/dist/bin.js is missing: run `pnpm build` first")

  const before = await machineBefore()
  const database = await scratchDatabase(ADMIN_URL, "inv_bench_server")
  let rawDatabase
  let pool
  let rawSide
  let broker
  try {
    rawDatabase = await scratchDatabase(ADMIN_URL, "inv_bench_server_raw")
    broker = await isolatedBroker()
    // Migrate and seed both databases through the SDK before the services start, so they only
    // open the store; the raw side's statements are recorded from the SDK on its own database.
    const seed = async (url, work) => {
      const inv = await openInventory({ databaseUrl: url })
      try {
        for (const sku of [...skus, MARKER]) {
          await inv.products.add({ sku, name: `Bench product ${sku}` })
          await inv.stock.adjust(sku, INITIAL_STOCK, { reason: "receipt" })
        }
        return await work(inv)
      } finally {
        await inv.close()
      }
    }
    await seed(database.url, async () => undefined)
    const statements = await seed(rawDatabase.url, (inv) => recordAdjustStatements(inv, MARKER, REASON))

    const env = {
      HOST: "127.0.0.1",
      INV_DATABASE_URL: database.url,
      INV_RABBITMQ_URL: broker.url,
      INV_REDIS_URL: REDIS_URL,
      INV_REDIS_PREFIX: REDIS_PREFIX,
      // Long enough that no cached level expires during the run: part 2 measures cache hits.
      INV_CACHE_TTL: "600",
      INV_LOG_LEVEL: "info",
      INV_JWT_SECRET: JWT_SECRET,
      // A throughput measurement: the per-token rate limit would only measure itself.
      INV_RATE_LIMIT: "0"
    }
    const { INV_REDIS_URL: _redis, INV_REDIS_PREFIX: _prefix, ...withoutRedis } = env
    const ports = {}
    const started = []
    for (const service of ["stock-updater", "stock-checker", "supplier-sync"]) {
      ports[service] = await freePort()
      started.push([
        startChild(service, [BIN, service], {
          ...(service === "stock-checker" && CHECKER_CACHE === "memory" ? withoutRedis : env),
          PORT: String(ports[service])
        }),
        ports[service]
      ])
    }
    const startedAt = performance.now()
    await Promise.all(started.map(([entry, port]) => waitReady(entry, port)))
    const readyMs = Math.round(performance.now() - startedAt)
    const updater = ports["stock-updater"]
    const checker = ports["stock-checker"]

    // The services' database, for the run's own looks (the outbox, the cache's proof, the ledger).
    pool = rawPool(database.url, 2)
    // The raw side's pool, on its own database.
    rawSide = rawPool(rawDatabase.url, POOL_SIZE)

    // --- 1. adjustments over HTTP against the raw transaction --------------------------------
    let httpErrors = 0
    const viaHttp = async (sku, delta) => {
      const res = await request(updater, "POST", `/v1/stock/${sku}/adjust`, { delta, reason: REASON })
      if (res.status !== 200) {
        httpErrors++
        if (httpErrors === 1) console.error(`adjust answered ${res.status}: ${res.text.slice(0, 300)}`)
        if (httpErrors > 100) throw new Error("too many failed adjustments over HTTP")
      }
    }
    const viaPg = (sku, delta) => rawAdjust(rawSide, statements, sku, delta)
    const viaPgPrepared = (sku, delta) => rawAdjust(rawSide, statements, sku, delta, true)
    // stock-checker serves reads before the writes start, as in a deployment: its copy of the
    // shared cache is on, and Redis tells it of every change of part 1 (counted in its CPU).
    for (const sku of skus) await expectOk(checker, "GET", `/v1/stock/${sku}`)
    // The consumers' CPU over part 1, from its first event until they handled its last.
    const {
      rows: [{ lastEvent }]
    } = await pool.query('select coalesce(max(id), 0)::int8 as "lastEvent" from outbox')
    const consumersBefore = cpuSnapshot()
    let adjustHttp, adjustRaw, adjustPrepared, adjustFloor, adjustRatio, adjustPreparedRatio, adjustFloorRatio
    let hotHttp, hotRaw, hotPrepared, hotRatio, hotPreparedRatio
    /** Each side's warm-up, window by window (`warmUp`). */
    const warmups = {}
    if (PARTS.has("adjust")) {
      // The platform's own share of an HTTP adjustment: a minimal HttpApi POST endpoint decoding
      // the same fields and answering an adjustment's bytes, with no store, authentication or events.
      const adjustSample = await expectOk(updater, "POST", `/v1/stock/${MARKER}/adjust`, {
        delta: 1,
        reason: REASON
      })
      const floorPort = await freePort()
      const floor = startChild(
        "framework floor",
        [fileURLToPath(new URL("./frameworkFloor.mjs", import.meta.url))],
        { ADJUST_BODY: adjustSample, PORT: String(floorPort) }
      )
      await waitReady(floor, floorPort, `/v1/stock/${skus[0]}`)
      const viaFloor = async (sku, delta) => {
        const res = await request(floorPort, "POST", `/v1/stock/${sku}/adjust`, { delta, reason: REASON })
        if (res.status !== 200) throw new Error(`the framework floor answered ${res.status}`)
      }
      // Warm-up: JIT on both sides, every socket and pool connection open; not measured.
      warmups.adjustRaw = await warmUp(viaPg, "machine")
      warmups.adjustPrepared = await warmUp(viaPgPrepared, "machine")
      warmups.adjustHttp = await warmUp(viaHttp, "stock-updater")
      warmups.adjustFloor = await warmUp(viaFloor, "framework floor")
      ;[adjustHttp, adjustRaw, adjustPrepared, adjustFloor] = await compare(10, [
        viaHttp,
        viaPg,
        viaPgPrepared,
        viaFloor
      ])
      adjustRatio = round2(adjustHttp.opsPerSec / adjustRaw.opsPerSec)
      adjustPreparedRatio = round2(adjustHttp.opsPerSec / adjustPrepared.opsPerSec)
      adjustFloorRatio = round2(adjustHttp.opsPerSec / adjustFloor.opsPerSec)
      // Part 2 starts a floor of its own, under the same name: this one is stopped first.
      const floorExited = new Promise((resolve) => floor.child.once("exit", resolve))
      floor.child.kill()
      await floorExited
      // Hot rows: many callers on few SKUs, where each level's changes queue behind its row lock.
      ;[hotHttp, hotRaw, hotPrepared] = await compare(30, [viaHttp, viaPg, viaPgPrepared], {
        concurrency: HOT_CONCURRENCY,
        among: hotSkus
      })
      hotRatio = round2(hotHttp.opsPerSec / hotRaw.opsPerSec)
      hotPreparedRatio = round2(hotHttp.opsPerSec / hotPrepared.opsPerSec)
    }
    const burstEnded = performance.now()
    const backlog = await pool.query("select count(*)::int as n from outbox where sent_at is null")
    const drainSeconds = await drainOutbox(pool)

    // --- 2. cached reads against a bare Node server with the same body ------------------------
    // stock-checker's consumer handles its events one at a time, in order: once the marker's
    // change shows, it has handled every event of the burst above. Then fill the cache.
    const onHandAt = async (sku) => JSON.parse(await expectOk(checker, "GET", `/v1/stock/${sku}`)).onHand
    await onHandAt(MARKER)
    await onHandAt(MARKER)
    const markerChange = JSON.parse(
      await expectOk(updater, "POST", `/v1/stock/${MARKER}/adjust`, { delta: 1, reason: "receipt" })
    )
    let caughtUp = false
    while (performance.now() - burstEnded < 60_000) {
      if ((await onHandAt(MARKER)) === markerChange.onHand) {
        caughtUp = true
        break
      }
      await sleep(20)
    }
    if (!caughtUp) throw new Error("stock-checker did not handle the burst's events within 60 s")
    const catchUpSeconds = round2((performance.now() - burstEnded) / 1000)
    const consumersCpu = {}
    addCpu(consumersCpu, consumersBefore, cpuSnapshot())
    const {
      rows: [{ events }]
    } = await pool.query("select count(*)::int as events from outbox where id > $1", [lastEvent])
    const cpuMsPerEvent = Object.fromEntries(
      ["stock-checker", "supplier-sync"]
        .filter((name) => consumersCpu[name] !== undefined)
        .map((name) => [name, round2(consumersCpu[name] / events)])
    )
    for (const sku of skus) await expectOk(checker, "GET", `/v1/stock/${sku}`)
    const sample = await request(checker, "GET", `/v1/stock/${skus[0]}`)
    const bodyBytes = Buffer.byteLength(sample.text)
    const barePort = await freePort()
    const bare = startChild(
      "bare server",
      [
        "-e",
        `const body = Buffer.from(process.env.BODY)
         require("node:http").createServer((req, res) => {
           req.resume()
           res.writeHead(200, { "content-type": "application/json", "content-length": body.length })
           res.end(body)
         }).listen(Number(process.env.PORT), "127.0.0.1")`
      ],
      { BODY: sample.text, PORT: String(barePort) }
    )
    await waitReady(bare, barePort, "/")
    const floorPort = await freePort()
    const floor = startChild(
      "framework floor",
      [fileURLToPath(new URL("./frameworkFloor.mjs", import.meta.url))],
      { BODY: sample.text, PORT: String(floorPort) }
    )
    await waitReady(floor, floorPort, `/v1/stock/${skus[0]}`)
    // Both sides parse the body (the same bytes), so the client does the same work for each.
    const cachedOnHand = new Map()
    let fromDatabase = 0
    const reloaded = new Set()
    const checkerRead = async (sku) => {
      const res = await request(checker, "GET", `/v1/stock/${sku}`)
      if (res.status !== 200) throw new Error(`GET /v1/stock/${sku} answered ${res.status}`)
      const { onHand } = JSON.parse(res.text)
      if (cachedOnHand.size > 0 && onHand !== cachedOnHand.get(sku)) {
        fromDatabase++
        reloaded.add(sku)
      }
    }
    const bareRead = async (sku) => {
      const res = await request(barePort, "GET", `/v1/stock/${sku}`)
      if (res.status !== 200) throw new Error(`bare server answered ${res.status}`)
      JSON.parse(res.text)
    }
    const floorRead = async (sku) => {
      const res = await request(floorPort, "GET", `/v1/stock/${sku}`)
      if (res.status !== 200) throw new Error(`the framework floor answered ${res.status}`)
      JSON.parse(res.text)
    }
    let readChecker, readBare, readFloor, readRatio, readFloorRatio
    if (PARTS.has("read")) {
      warmups.readChecker = await warmUp(checkerRead, "stock-checker")
      warmups.readBare = await warmUp(bareRead, "bare server")
      warmups.readFloor = await warmUp(floorRead, "framework floor")
      // Proof that the reads hit the cache: the levels change in the database behind the cache's
      // back (no event), so an answer loaded from the database shows another number.
      for (const sku of skus) cachedOnHand.set(sku, await onHandAt(sku))
      await pool.query("update stock_levels set on_hand = on_hand + $1 where sku = any($2)", [OFFSET, skus])
      ;[readChecker, readBare, readFloor] = await compare(20, [checkerRead, bareRead, floorRead])
      await pool.query("update stock_levels set on_hand = on_hand - $1 where sku = any($2)", [OFFSET, skus])
      readRatio = round2(readChecker.opsPerSec / readBare.opsPerSec)
      readFloorRatio = round2(readChecker.opsPerSec / readFloor.opsPerSec)
    }

    // --- 3. update-to-visible delay ----------------------------------------------------------
    const delays = []
    const writeLatencies = []
    let polls = 0
    let timeouts = 0
    const jitter = mulberry32(3)
    const samples = PARTS.has("visible") ? SAMPLES : 0
    for (let i = 0; i < samples; i++) {
      const sku = skus[i % skus.length]
      await onHandAt(sku)
      await onHandAt(sku) // cached now
      await sleep(Math.floor(jitter() * 100)) // no phase lock with the relay's 100 ms polling
      const t0 = performance.now()
      const change = JSON.parse(
        await expectOk(updater, "POST", `/v1/stock/${sku}/adjust`, { delta: 1, reason: "receipt" })
      )
      const acknowledged = performance.now()
      writeLatencies.push(acknowledged - t0)
      let seen = false
      while (performance.now() - acknowledged < 5_000) {
        polls++
        if ((await onHandAt(sku)) === change.onHand) {
          seen = true
          break
        }
        await sleep(POLL_MS)
      }
      if (seen) delays.push(performance.now() - acknowledged)
      else timeouts++
    }
    delays.sort((a, b) => a - b)
    writeLatencies.sort((a, b) => a - b)
    const visible = {
      samples: delays.length,
      timeouts,
      p50Ms: round2(percentile(delays, 0.5)),
      p90Ms: round2(percentile(delays, 0.9)),
      p99Ms: round2(percentile(delays, 0.99)),
      minMs: round2(delays[0] ?? Number.NaN),
      maxMs: round2(delays.at(-1) ?? Number.NaN),
      pollsPerSample: round2(polls / (samples || 1)),
      writeP50Ms: round2(percentile(writeLatencies, 0.5))
    }

    // On both sides' databases, every level must still equal its movements.
    const driftQuery = `
      select count(*)::int as bad from stock_levels l
      where l.on_hand <> (select coalesce(sum(delta), 0) from stock_movements m
                          where m.sku = l.sku and m.location = l.location)`
    const drifted = (await pool.query(driftQuery)).rows[0].bad + (await rawSide.query(driftQuery)).rows[0].bad

    // --- report ------------------------------------------------------------------------------
    const machine = machineLine(before)
    console.log(
      `\nServer mode: stock-updater, stock-checker, supplier-sync as separate processes on PostgreSQL ` +
        `${database.serverVersion}, RabbitMQ, Redis; stock-checker's cache ${CHECKER_CACHE === "redis" ? "shared, in Redis" : "its own, in memory"}; ${PRODUCTS} SKUs, ${CONCURRENCY} concurrent callers, ` +
        `${SECONDS} s per side after ${WARMUP_SECONDS} s of warm-up a side; Node ${process.version}, ${machine}; services ready in ${readyMs} ms\n`
    )
    const header = [
      "measure".padEnd(34),
      pad("ops/s", 7),
      pad("baseline", 22),
      pad("ops/s", 7),
      pad("ratio", 6),
      pad("p50/p99 ms", 14),
      pad("baseline p50/p99", 17)
    ].join("  ")
    console.log(header)
    console.log("-".repeat(header.length))
    const line = (name, side, baseName, base, ratio) =>
      console.log(
        [
          name.padEnd(34),
          pad(side.opsPerSec, 7),
          pad(baseName, 22),
          pad(base.opsPerSec, 7),
          pad(`${ratio.toFixed(2)}×`, 6),
          pad(`${side.p50Ms.toFixed(2)} / ${side.p99Ms.toFixed(2)}`, 14),
          pad(`${base.p50Ms.toFixed(2)} / ${base.p99Ms.toFixed(2)}`, 17)
        ].join("  ")
      )
    if (adjustHttp) {
      line(
        "POST /v1/stock/:sku/adjust (HTTP)",
        adjustHttp,
        `raw pg, pool ${POOL_SIZE}`,
        adjustRaw,
        adjustRatio
      )
      line(
        "POST /v1/stock/:sku/adjust (HTTP)",
        adjustHttp,
        "raw pg, prepared",
        adjustPrepared,
        adjustPreparedRatio
      )
      line("POST /v1/stock/:sku/adjust (HTTP)", adjustHttp, "framework floor", adjustFloor, adjustFloorRatio)
      line(
        `same, ${HOT_CONCURRENCY} callers on ${hotSkus.length} SKUs`,
        hotHttp,
        `raw pg, pool ${POOL_SIZE}`,
        hotRaw,
        hotRatio
      )
      line(
        `same, ${HOT_CONCURRENCY} callers on ${hotSkus.length} SKUs`,
        hotHttp,
        "raw pg, prepared",
        hotPrepared,
        hotPreparedRatio
      )
    }
    if (readChecker) {
      line("GET /v1/stock/:sku (cached)", readChecker, "bare node:http", readBare, readRatio)
      line("GET /v1/stock/:sku (cached)", readChecker, "framework floor", readFloor, readFloorRatio)
    }
    console.log(
      "\nCPU ms per operation (machine = every process; postgres, rabbitmq, redis = the engines' own processes; cores busy of the machine's cores):"
    )
    for (const [name, side] of [
      ["  adjust over HTTP", adjustHttp],
      ["  adjust raw pg", adjustRaw],
      ["  adjust raw prepared", adjustPrepared],
      ["  adjust framework floor", adjustFloor],
      ["  hot rows over HTTP", hotHttp],
      ["  hot rows raw pg", hotRaw],
      ["  read stock-checker", readChecker],
      ["  read bare server", readBare],
      ["  read framework floor", readFloor]
    ]) {
      if (side === undefined) continue
      const cpu = Object.entries(side.cpuMsPerOp)
        .map(([who, ms]) => `${who} ${ms.toFixed(2)}`)
        .join(", ")
      console.log(`${name.padEnd(22)} ${cpu}; cores busy ${side.coresBusy ?? "?"}`)
    }
    const warmedUp = [
      ["adjustHttp", "adjust over HTTP (stock-updater)"],
      ["adjustRaw", "adjust raw pg (machine)"],
      ["adjustPrepared", "adjust raw pg, prepared (machine)"],
      ["adjustFloor", "adjust framework floor"],
      ["readChecker", "read stock-checker"],
      ["readBare", "read bare server"],
      ["readFloor", "read framework floor"]
    ].filter(([name]) => warmups[name]?.length > 0)
    if (warmedUp.length > 0) {
      console.log(
        `\nwarm-up, not measured (${WARMUP_SECONDS} s a side; each window's rate, and CPU ms per operation of the service, of the machine for raw pg):`
      )
      for (const [name, label] of warmedUp) console.log(warmUpLine(label, warmups[name]))
    }
    if (samples > 0)
      console.log(
        `\nupdate-to-visible (${visible.samples} samples, poll every ${POLL_MS} ms after the write's answer): ` +
          `p50 ${visible.p50Ms} ms, p90 ${visible.p90Ms} ms, p99 ${visible.p99Ms} ms, min ${visible.minMs}, max ${visible.maxMs}` +
          `${timeouts > 0 ? `, ${timeouts} not visible within 5 s` : ""}; write p50 ${visible.writeP50Ms} ms`
      )
    console.log(
      `response body ${bodyBytes} bytes; reads answered from the database instead of the cache: ` +
        `${fromDatabase} of ${readChecker?.ops ?? 0} (${reloaded.size} SKUs reloaded); ` +
        `outbox backlog after part 1: ${backlog.rows[0].n} events, published in ${drainSeconds} s; ` +
        `stock-checker's consumer caught up ${catchUpSeconds} s after part 1; ` +
        `failed HTTP adjustments: ${httpErrors}; ledger check: ${drifted === 0 ? "ok" : `${drifted} levels DRIFTED`}`
    )
    if (adjustHttp)
      console.log(
        `consumers' CPU per stock.updated (part 1's ${events} events, until handled): ` +
          `${Object.entries(cpuMsPerEvent)
            .map(([name, ms]) => `${name} ${ms.toFixed(2)} ms`)
            .join(", ")}\n`
      )
    console.log(
      JSON.stringify({
        ...runFacts("server", database, before),
        products: PRODUCTS,
        concurrency: CONCURRENCY,
        poolSize: POOL_SIZE,
        secondsPerSide: SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        checkerCache: CHECKER_CACHE,
        parts: [...PARTS],
        adjust: adjustHttp && {
          http: adjustHttp,
          raw: adjustRaw,
          ratio: adjustRatio,
          // The same statement prepared under the SDK's name for it, as stock-updater sends its own.
          rawPrepared: adjustPrepared,
          preparedRatio: adjustPreparedRatio,
          // A minimal HttpApi POST endpoint answering the same bytes: the platform's share alone.
          floor: adjustFloor,
          floorRatio: adjustFloorRatio,
          cpuMsPerOp: {
            machine: adjustHttp.cpuMsPerOp.machine,
            rawMachine: adjustRaw.cpuMsPerOp.machine,
            rawPreparedMachine: adjustPrepared.cpuMsPerOp.machine,
            stockUpdater: adjustHttp.cpuMsPerOp["stock-updater"],
            floor: adjustFloor.cpuMsPerOp["framework floor"]
          },
          hot: {
            concurrency: HOT_CONCURRENCY,
            skus: hotSkus.length,
            http: hotHttp,
            raw: hotRaw,
            ratio: hotRatio,
            rawPrepared: hotPrepared,
            preparedRatio: hotPreparedRatio
          },
          failed: httpErrors
        },
        consumers: { events, cpuMsPerEvent },
        read: readChecker && {
          checker: readChecker,
          bare: readBare,
          floor: readFloor,
          ratio: readRatio,
          floorRatio: readFloorRatio,
          bodyBytes,
          fromDatabase,
          reloadedSkus: reloaded.size
        },
        visible: samples > 0 ? visible : undefined,
        warmup: warmups,
        outbox: { backlog: backlog.rows[0].n, drainSeconds },
        checkerCatchUpSeconds: catchUpSeconds,
        ownVhost: broker.vhost !== "/",
        // The raw transactions went to a database of their own, whose events no relay reads.
        rawOwnDatabase: true,
        ledgerOk: drifted === 0,
        serviceWarnings: warnings.length
      })
    )
    if (warnings.length > 0) {
      console.error(`\n${warnings.length} warnings or errors logged by the services, the first ones:`)
      for (const line of warnings.slice(0, 5)) console.error(`  ${line}`)
    }
    // Timeouts and failed requests are reported, not fatal: another suite stopping the shared
    // broker (the server tests do) makes them. A ledger that does not add up is a failure.
    if (drifted !== 0) process.exitCode = 1
  } finally {
    agent.destroy()
    await stopChildren()
    await broker?.remove()
    await deleteRedisKeys([...skus, MARKER])
    await pool?.end()
    await rawSide?.end()
    await database.drop()
    await rawDatabase?.drop()
  }
}

try {
  await main()
} catch (error) {
  console.error(error instanceof Error ? error.message : error)
  for (const line of warnings.slice(0, 5)) console.error(`  ${line}`)
  for (const entry of children) if (entry.exited) console.error(`  ${entry.name} had exited`)
  process.exitCode = 1
}
process.exit()
