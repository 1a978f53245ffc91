/**
 * The store process (see StoreProcess.ts): `node storeProcessMain.js <dataDir>`, started by a
 * client; storeProcessMain.ts begins PGlite's start and then loads this module (a CommonJS bundle,
 * from V8's code cache: see storeProcessCache.ts). It opens the embedded store with the SDK's own `openInventory`, holds it, and answers
 * the facade's calls on the Unix socket in the data directory until it has been idle for
 * `INV_STORE_IDLE`, is asked to stop, or gets SIGTERM.
 *
 * While starting it reports to its starter over IPC (notices, then ready, busy or failed) and
 * closes that channel; after that it writes only to its log, `inv-store.log` in the data
 * directory (0600).
 */
import { appendFileSync, chmodSync, existsSync, realpathSync, rmSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { Inventory } from "../Inventory.js"
import { buildOf, environmentOf, idleSeconds, version } from "../StoreProcess.js"
import { LOCK_FILE, liveHolder } from "./dataDirLock.js"
import { startPglite } from "./pgliteStart.js"
import { coreCache } from "./storeProcessCache.js"
import {
  decode,
  encode,
  errorToWire,
  type Hello,
  LOG_FILE,
  SOCKET_FILE,
  STORE_PROCESS_HOLDER
} from "./storeProcessWire.js"

/** What the client keeps to itself (paging) or runs in its own process (see StoreProcess.connect). */
const NOT_FORWARDED = new Set(["all", "allLow", "sync", "syncMany", "preview", "worker"])
const NAMESPACES = new Set(["products", "locations", "stock", "suppliers", "restock", "reservations"])
/** How long a stopping store process waits for the connections it accepted to send their request. */
const DRAIN_TIMEOUT_MS = 5_000
/**
 * A client that has just started it, or said hello before calling, calls within this: the store
 * process is not idle meanwhile, however short INV_STORE_IDLE and however slow the machine.
 */
const CALL_GRACE_MS = 10_000
/** How long the calls must pause before the store process warms up (see warmUp). */
const WARM_UP_AFTER_MS = 250

const dataDir = process.argv[2]!
// Whatever PostgreSQL (in PGlite), the socket and the log create is the owner's alone.
process.umask(0o077)

let logFile: string | undefined
const log = (line: string) => {
  if (logFile === undefined) return
  try {
    appendFileSync(logFile, `${new Date().toISOString()} [${process.pid}] ${line}\n`, { mode: 0o600 })
  } catch {
    // Nowhere left to say it.
  }
}

const report = (message: object) => {
  if (process.connected) process.send?.(message)
}

/** The store process that holds the directory, if another one does. */
const otherStoreProcess = (): number | undefined => {
  try {
    const holder = liveHolder(join(realpathSync(dataDir), LOCK_FILE))
    return holder?.description === STORE_PROCESS_HOLDER && holder.pid !== process.pid ? holder.pid : undefined
  } catch {
    return undefined
  }
}

const readBody = (request: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const answer = (response: ServerResponse, status: number, body: string, then?: () => void) => {
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body)
  })
  response.end(body, then)
}

/** One call of the facade, named `namespace.operation`; anything else is refused. */
const dispatch = (inventory: Inventory, method: unknown, args: unknown): Promise<unknown> => {
  const [space, operation, ...rest] = typeof method === "string" ? method.split(".") : []
  const group =
    space !== undefined && NAMESPACES.has(space)
      ? (inventory[space as keyof Inventory] as unknown as Record<string, unknown>)
      : undefined
  const run =
    group !== undefined && operation !== undefined && rest.length === 0 && !NOT_FORWARDED.has(operation)
      ? Object.hasOwn(group, operation) && group[operation]
      : undefined
  if (typeof run !== "function" || !Array.isArray(args)) {
    return Promise.reject(new Error(`the store process does not run ${String(method)}`))
  }
  return (run as (...args: Array<unknown>) => Promise<unknown>)(...args)
}

/**
 * Runs the common commands' paths once, so that the commands that follow do not pay for their
 * first run: V8 compiles a function when it is first called, and PostgreSQL reads its catalogs
 * and plans a statement the first time a session sends it, and loads PL/pgSQL (the triggers'
 * language) on the first write, some 70 ms in PGlite. A store process's first `inv stock set`
 * took some 130 ms there, the later ones some 15 ms. The writes are a dry run, rolled back:
 * nothing is written (a ledger id may be skipped, as by any refused or rolled-back change).
 */
const warmUp = async (inventory: Inventory): Promise<string> => {
  const started = performance.now()
  try {
    const [level] = (await inventory.stock.list({ limit: 1 })).items
    if (level === undefined) return "not warmed up: the store holds no stock level yet"
    const { sku, location, onHand } = level
    await inventory.stock.level(sku, { location })
    await inventory.stock.batch(
      [
        { type: "set", sku, location, quantity: onHand },
        { type: "adjust", sku, location, delta: 1 }
      ],
      { dryRun: true }
    )
    return `warmed up in ${Math.round(performance.now() - started)} ms`
  } catch (error) {
    return `warming up failed: ${(error as Error).message}`
  }
}

const main = async () => {
  const idleLimitSeconds = idleSeconds()
  // The script clients start and compare builds by (StoreProcess.mainScript), beside this one.
  const build = buildOf(fileURLToPath(new URL("./storeProcessMain.js", import.meta.url)))
  let inventory: Inventory
  try {
    // Begun already by storeProcessMain.ts; this answers the same start (see pgliteStart.ts).
    void startPglite()
    const { openInventory } = await import("../Inventory.js")
    inventory = await openInventory({
      dataDir,
      holder: { description: STORE_PROCESS_HOLDER, longLived: true },
      onNotice: (message) => report({ type: "notice", message })
    })
  } catch (error) {
    // Two commands started one each at once: the other one has the directory; theirs is ours.
    if (otherStoreProcess() !== undefined) report({ type: "busy" })
    else report({ type: "failed", error: errorToWire(error) })
    process.exit(1)
  }
  const directory = realpathSync(dataDir)
  logFile = join(directory, LOG_FILE)
  const socket = join(directory, SOCKET_FILE)
  // Under the lock, a socket file left here is a dead store process's.
  rmSync(socket, { force: true })

  const startedAt = new Date()
  let lastCall = Date.now()
  /** Not idle before this: a client is about to call (see CALL_GRACE_MS). */
  let callExpectedUntil = Date.now() + CALL_GRACE_MS
  let inFlight = 0
  let stopping = false
  let warmedUp = false
  /** Set after each call until the warm-up begins, cleared by the next call (see warmUp). */
  let warmUpTimer: NodeJS.Timeout | undefined
  let warmingUp: Promise<void> = Promise.resolve()

  const hello = (): Hello => ({
    pid: process.pid,
    version,
    build,
    environment: environmentOf(),
    dataDir: directory,
    store: inventory.store,
    startedAt: startedAt.toISOString(),
    idleSeconds: inFlight > 0 ? 0 : Math.floor((Date.now() - lastCall) / 1000),
    idleLimitSeconds
  })

  /** A call of the facade: what keeps the process from being idle (a status check does not). */
  const serveCall = async (request: IncomingMessage, response: ServerResponse) => {
    inFlight += 1
    try {
      const { method, args } = decode(await readBody(request)) as { method?: unknown; args?: unknown }
      try {
        answer(response, 200, encode({ value: await dispatch(inventory, method, args) }))
      } catch (error) {
        answer(response, 200, encode({ error: errorToWire(error) }))
      }
    } finally {
      inFlight -= 1
      lastCall = Date.now()
    }
    if (warmedUp) return
    // Once the calls pause: commands sent one after another warm their own paths, and would
    // only wait for the warm-up and share the CPU with it.
    clearTimeout(warmUpTimer)
    warmUpTimer = setTimeout(() => {
      if (inFlight > 0 || stopping) return
      warmedUp = true
      // Then the code cache holds what opening the store, the calls and the warm-up compiled.
      // Said last, so that a reader of the log knows this process has stopped writing files.
      warmingUp = warmUp(inventory).then((warmed) => {
        const made = coreCache()?.save()
        if (made !== undefined) log(made)
        log(warmed)
      })
    }, WARM_UP_AFTER_MS)
  }

  const server = createServer(async (request, response) => {
    try {
      if (request.method === "GET" && (request.url === "/hello" || request.url === "/hello?use")) {
        const answered = encode(hello())
        // A client about to call: not idle now, so it is not stopped between its hello and its call.
        if (request.url === "/hello?use") callExpectedUntil = Date.now() + CALL_GRACE_MS
        return answer(response, 200, answered)
      }
      if (request.method === "POST" && request.url === "/stop") {
        log("asked to stop")
        return answer(response, 200, encode({ stopping: true }), () => void stop("asked"))
      }
      if (request.method === "POST" && request.url === "/call") return await serveCall(request, response)
      answer(
        response,
        404,
        encode({ error: { message: `no route ${request.method} ${request.url}`, fields: {} } })
      )
    } catch (error) {
      log(`request failed: ${(error as Error).stack ?? error}`)
      if (!response.headersSent) answer(response, 500, encode({ error: errorToWire(error) }))
    }
  })

  const stop = async (why: string) => {
    if (stopping) return
    stopping = true
    log(`stopping (${why})`)
    // No new connection from here on (a client then starts a new store process); every one
    // already accepted is answered before the store closes, even one whose request is still
    // on its way. A connection that sends nothing is cut after a while.
    const drained = new Promise<void>((resolve) => server.close(() => resolve()))
    const cut = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS)
    await drained
    clearTimeout(cut)
    clearTimeout(warmUpTimer)
    await warmingUp
    rmSync(socket, { force: true })
    try {
      await inventory.close()
    } catch (error) {
      log(`closing the store failed: ${(error as Error).message}`)
    }
    log("stopped")
    process.exit(0)
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(socket, resolve)
  })
  chmodSync(socket, 0o600)
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => void stop(signal))
  setInterval(
    () => {
      const now = Date.now()
      if (inFlight === 0 && now >= callExpectedUntil && now - lastCall >= idleLimitSeconds * 1000)
        void stop("idle")
      // Its directory removed (`rm -rf`), or the socket with it: no client can reach it any more,
      // and it would hold the deleted store's files open until its idle limit.
      else if (!existsSync(socket)) void stop("its socket is gone")
    },
    Math.min(1000, idleLimitSeconds * 500)
  )
  log(
    `listening on ${socket} (version ${version}, idle limit ${idleLimitSeconds} s, code cache ${coreCache()?.state() ?? "none"})`
  )
  report({ type: "ready", hello: hello() })
}

const fail = (error: unknown) => {
  log(`failed: ${(error as Error).stack ?? error}`)
  report({ type: "failed", error: errorToWire(error) })
  process.exit(1)
}
process.on("uncaughtException", fail)
main().catch(fail)
