// Where a request's CPU goes in server mode: the built stock-checker and stock-updater
// (packages/server/dist/bin.js) run with `node --cpu-prof`, one at a time, under 32 connections of
// cached level reads (GET /v1/stock/:sku) or adjustments (POST /v1/stock/:sku/adjust), and the
// profile's samples taken during the load are summed up as shares: by package, by function (self
// time), and by the project's own steps (time spent with that frame on the stack).
//
// A profile, not a benchmark: it prints no rate worth quoting and no ratio. Shares hold on a busy
// machine where absolute rates do not (docs/benchmarks-log.md, section 3, "Profile of the request
// path").
//
//   pnpm build && node bench/profileServer.mjs [read|adjust|consume:stock-checker|consume:supplier-sync ...]
//   PROFILE_SECONDS=10 PROFILE_KEEP=1 node bench/profileServer.mjs read
//
// The rate limit is on (INV_RATE_LIMIT set far above the load, so it counts every request and
// refuses none), as in a deployment; the log level is the default (info). The run has its own
// database (dropped afterwards), its own RabbitMQ virtual host when rabbitmqctl can make one, and
// its own Redis namespace (INV_REDIS_PREFIX), whose keys it deletes. With PROFILE_KEEP=1 the
// .cpuprofile files are kept (their directory is printed) for Chrome DevTools or speedscope.
import { execFile, execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import http from "node:http"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { openInventory } from "@invkit/sdk"
import { jsonRequest, mulberry32 } from "./load.mjs"
import { areaShares } from "./profileAreas.mjs"
import { requireLocal, scratchDatabase } from "./scratchDatabase.mjs"

const ADMIN_URL = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const RABBITMQ_URL = process.env.BENCH_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379"
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8)
const CONCURRENCY = 32
const PRODUCTS = 50
const BIN = fileURLToPath(new URL("../packages/server/dist/bin.js", import.meta.url))
const runId = randomBytes(3).toString("hex")
const skus = Array.from({ length: PRODUCTS }, (_, i) => `PS${runId}-${String(i + 1).padStart(3, "0")}`)
const REDIS_PREFIX = `inv-profile-${runId}`
const JWT_SECRET = randomBytes(48).toString("base64")
const run = promisify(execFile)

const freePort = () =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.on("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
const token = execFileSync(
  process.execPath,
  [BIN, "token", "create", "--role", "operator", "--subject", "profile"],
  {
    env: { ...process.env, INV_JWT_SECRET: JWT_SECRET },
    encoding: "utf8"
  }
).trim()

const request = jsonRequest({ agent, token, timeoutMs: 20_000 })

/** `CONCURRENCY` loops calling `call(sku, random)` until `ms` have passed; answers the calls made. */
const load = async (ms, call) => {
  let calls = 0
  const deadline = performance.now() + ms
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      const random = mulberry32(w + 1)
      while (performance.now() < deadline) {
        await call(skus[Math.floor(random() * skus.length)], random)
        calls++
      }
    })
  )
  return calls
}

/** A virtual host of the run's own, when rabbitmqctl can make one; else the default one. */
const isolatedBroker = async () => {
  const vhost = `inv_profile_${runId}`
  const user = decodeURIComponent(new URL(RABBITMQ_URL).username || "guest")
  try {
    await run("rabbitmqctl", ["-q", "add_vhost", vhost], { timeout: 30_000 })
    await run("rabbitmqctl", ["-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"], {
      timeout: 30_000
    })
  } catch {
    console.error("no virtual host of its own; using the default one, shared")
    return { url: RABBITMQ_URL, remove: async () => undefined }
  }
  const url = new URL(RABBITMQ_URL)
  url.pathname = `/${encodeURIComponent(vhost)}`
  return {
    url: url.toString(),
    remove: () =>
      run("rabbitmqctl", ["-q", "delete_vhost", vhost], { timeout: 30_000 }).catch(() => undefined)
  }
}

/** The monotonic clock V8's profiles use (µs), so the load's window can be cut out of a profile. */
const nowUs = () => Number(process.hrtime.bigint() / 1000n)

/** Starts `service` with --cpu-prof into `dir`, waits for /ready; `stop` ends it and answers its profile. */
const startProfiled = async (service, env, dir) => {
  const port = await freePort()
  const child = spawn(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${dir}`, BIN, service], {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"]
  })
  let stderr = ""
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-4000)
  })
  const deadline = performance.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${service} exited: ${stderr}`)
    if (performance.now() > deadline) throw new Error(`${service} not ready within 60 s: ${stderr}`)
    const ready = await request(port, "GET", "/ready").catch(() => undefined)
    if (ready?.status === 200) break
    await sleep(200)
  }
  return {
    port,
    stop: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      await exited
      const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"))
      const profile = JSON.parse(readFileSync(join(dir, file), "utf8"))
      return profile
    }
  }
}

// --- reading a profile ---------------------------------------------------------------------------

const PACKAGES = [
  ["rate-limiter-flexible", /node_modules\/rate-limiter-flexible\//],
  ["ioredis", /node_modules\/(ioredis|@ioredis|redis-parser|denque|cluster-key-slot)\//],
  ["jose", /node_modules\/jose\//],
  ["pg", /node_modules\/(pg|pg-protocol|pg-types|pg-pool|postgres-[a-z]+)\//],
  ["amqplib", /node_modules\/amqplib\//],
  ["@effect/sql", /node_modules\/@effect\/sql(-pg)?\//],
  ["@effect/platform", /node_modules\/@effect\/platform(-node)?\//],
  ["effect", /node_modules\/effect\//],
  ["find-my-way-ts", /node_modules\/find-my-way-ts\//],
  ["@invkit/sdk", /packages\/sdk\/dist\//],
  ["server (dist/bin.js)", /packages\/server\/dist\//],
  ["node internals", /^node:|^internal\//]
]

const packageOf = (url, functionName) => {
  if (url === "") return functionName.startsWith("(") ? functionName : "native / builtin"
  for (const [name, pattern] of PACKAGES) if (pattern.test(url)) return name
  return "other"
}

/**
 * The server's own steps, known by the frame on the stack (with Effect's run loop a step's
 * synchronous work sits under its frame; what it hands back to the run loop does not).
 */
const STEPS = [
  ["rate limit (limiter.consume)", (f) => /rate-limiter-flexible/.test(f.url)],
  ["route label (matchRoute)", (f) => f.functionName === "matchRoute"],
  [
    "tracer middleware",
    (f) =>
      /platform\/dist\/esm\/internal\/httpMiddleware\.js$/.test(f.url) &&
      f.lineNumber >= 59 &&
      f.lineNumber < 105
  ],
  ["request id (randomUUID)", (f) => f.functionName === "randomUUID"],
  [
    "body checks (strictJson)",
    (f) => f.functionName === "strictJson" || f.functionName === "structureProblem"
  ],
  ["JSON.parse", (f) => f.functionName === "parse" && f.url === ""],
  ["logger", (f) => /Logger|logger/.test(f.functionName) || /internal\/logger/.test(f.url)],
  ["metrics", (f) => /internal\/metric/.test(f.url)],
  [
    "schema (effect/Schema, ParseResult)",
    (f) => /effect\/dist\/(esm|cjs)\/(Schema|ParseResult|SchemaAST)\.js/.test(f.url)
  ],
  ["ioredis", (f) => /node_modules\/(ioredis|redis-parser)\//.test(f.url)],
  ["pg", (f) => /node_modules\/(pg|pg-protocol)\//.test(f.url)],
  ["garbage collector", (f) => f.functionName === "(garbage collector)"]
]

/** Shares of the samples taken between `fromUs` and `toUs` (the idle ones left out). */
const shares = (profile, fromUs, toUs) => {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const byPackage = new Map()
  const bySelf = new Map()
  const byStep = new Map()
  let total = 0
  let t = profile.startTime
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i]
    if (t < fromUs || t > toUs) return
    const node = byId.get(id)
    const frame = node.callFrame
    if (frame.functionName === "(idle)") return
    total++
    const pkg = packageOf(frame.url, frame.functionName)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + 1)
    const self = `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*node_modules\//, "").replace(/^.*packages\//, "")}:${frame.lineNumber + 1}`
    bySelf.set(self, (bySelf.get(self) ?? 0) + 1)
    const seen = new Set()
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at).callFrame
      for (const [name, test] of STEPS) if (!seen.has(name) && test(f)) seen.add(name)
    }
    for (const name of seen) byStep.set(name, (byStep.get(name) ?? 0) + 1)
  })
  const top = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, count]) => [name, count / (total || 1)])
  return {
    samples: total,
    packages: top(byPackage, 14),
    self: top(bySelf, 25),
    steps: top(byStep, STEPS.length)
  }
}

/** Counts the commands clients send under the run's Redis namespace (MONITOR; scripts' own left out). */
const countRedisCommands = () => {
  const monitor = spawn("redis-cli", ["-u", REDIS_URL, "monitor"], { stdio: ["ignore", "pipe", "ignore"] })
  const counts = new Map()
  let counting = false
  let rest = ""
  monitor.stdout.on("data", (chunk) => {
    const lines = (rest + chunk).split("\n")
    rest = lines.pop()
    if (!counting) return
    for (const line of lines) {
      const match = /^\S+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line)
      if (!match || match[1] === "lua" || !line.includes(REDIS_PREFIX)) continue
      const name = match[2].toLowerCase()
      counts.set(name, (counts.get(name) ?? 0) + 1)
    }
  })
  return {
    start: () => {
      counting = true
    },
    stop: () => {
      counting = false
      monitor.kill()
      return counts
    }
  }
}

const print = (title, result) => {
  const pct = (x) => `${(x * 100).toFixed(1).padStart(5)}%`
  console.log(`\n== ${title}: ${result.samples} busy samples during the load ==`)
  console.log("-- by package (self time)")
  for (const [name, share] of result.packages) console.log(`  ${pct(share)}  ${name}`)
  console.log("-- the server's steps (time with the frame on the stack; they overlap)")
  for (const [name, share] of result.steps) console.log(`  ${pct(share)}  ${name}`)
  console.log("-- top functions (self time)")
  for (const [name, share] of result.self) console.log(`  ${pct(share)}  ${name}`)
}

// -------------------------------------------------------------------------------------------------

const main = async () => {
  requireLocal("BENCH_RABBITMQ_URL", RABBITMQ_URL)
  requireLocal("BENCH_REDIS_URL", REDIS_URL)
  const which = process.argv.slice(2)
  const parts = which.length === 0 ? ["read", "adjust"] : which
  const database = await scratchDatabase(ADMIN_URL, "inv_profile_server")
  const broker = await isolatedBroker()
  const dirs = []
  try {
    const inv = await openInventory({ databaseUrl: database.url })
    try {
      for (const sku of skus) {
        await inv.products.add({ sku, name: `Profile product ${sku}` })
        await inv.stock.adjust(sku, 1_000_000, { reason: "receipt" })
      }
    } finally {
      await inv.close()
    }
    const env = {
      HOST: "127.0.0.1",
      INV_DATABASE_URL: database.url,
      INV_RABBITMQ_URL: broker.url,
      INV_REDIS_URL: REDIS_URL,
      INV_REDIS_PREFIX: REDIS_PREFIX,
      INV_CACHE_TTL: "600",
      INV_JWT_SECRET: JWT_SECRET,
      INV_RATE_LIMIT: "1000000"
    }
    for (const part of parts) {
      const dir = mkdtempSync(join(tmpdir(), `inv-profile-${part}-`))
      dirs.push(dir)
      // `consume:<service>`: adjustments sent to stock-updater, the profile taken of a service that
      // consumes their `stock.updated` events (stock-checker or supplier-sync).
      const consumer = part.startsWith("consume:") ? part.slice("consume:".length) : undefined
      const service = consumer ?? (part === "read" ? "stock-checker" : "stock-updater")
      const profiled = await startProfiled(service, env, dir)
      const server =
        consumer === undefined
          ? profiled
          : await startProfiled("stock-updater", env, mkdtempSync(join(tmpdir(), "inv-profile-writer-")))
      const call =
        part === "read"
          ? async (sku) => {
              const res = await request(server.port, "GET", `/v1/stock/${sku}`)
              if (res.status !== 200) throw new Error(`GET answered ${res.status}: ${res.text}`)
            }
          : async (sku, random) => {
              const body = { delta: random() < 0.5 ? -1 : 1, reason: "sale" }
              const res = await request(server.port, "POST", `/v1/stock/${sku}/adjust`, body)
              if (res.status !== 200) throw new Error(`POST answered ${res.status}: ${res.text}`)
            }
      // Warm-up: every SKU cached (reads), the JIT and the connections ready; not in the window.
      for (const sku of skus) await call(sku, () => 0.9)
      await load(1500, call)
      const monitor = countRedisCommands()
      await sleep(300) // MONITOR attached
      monitor.start()
      const from = nowUs()
      const calls = await load(SECONDS * 1000, call)
      const to = nowUs()
      await sleep(300) // the last commands reported
      const commands = monitor.stop()
      if (consumer !== undefined) await server.stop()
      const profile = await profiled.stop()
      print(
        `${part === "read" ? "GET /v1/stock/:sku (cached)" : "POST /v1/stock/:sku/adjust"} on ${service}${consumer === undefined ? "" : " (its events consumed)"}, ${calls} requests in ${SECONDS} s`,
        shares(profile, from, to)
      )
      console.log(
        "-- by area of the request path (each sample to its innermost area; bench/profileAreas.mjs)"
      )
      for (const [area, share] of areaShares(profile, from, to).areas)
        console.log(`  ${(share * 100).toFixed(1).padStart(5)}%  ${area}`)
      console.log(
        `-- Redis commands per request (under the run's namespace): ${[...commands].map(([name, n]) => `${name} ${(n / calls).toFixed(2)}`).join(", ")}`
      )
    }
  } finally {
    await broker.remove()
    await database.drop()
    const keys = execFileSync("redis-cli", ["-u", REDIS_URL, "--scan", "--pattern", `${REDIS_PREFIX}:*`], {
      encoding: "utf8"
    })
      .split("\n")
      .filter(Boolean)
    if (keys.length > 0) execFileSync("redis-cli", ["-u", REDIS_URL, "del", ...keys])
    if (process.env.PROFILE_KEEP === "1") console.log(`\nprofiles kept in ${dirs.join(", ")}`)
    else for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
    agent.destroy()
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
