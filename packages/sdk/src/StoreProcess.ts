/**
 * The store process: the embedded store kept open by a background process, so that PGlite's start
 * (its WASM, PostgreSQL's own start: about half a second and a few hundred MB) is paid once, not
 * by every short-lived process that uses the data directory.
 *
 * - It is started on first use, detached (its stdio tied to nothing; its log is `inv-store.log`
 *   in the data directory), and stops by itself after `INV_STORE_IDLE` without calls (default
 *   10 minutes), or when asked (`stopStoreProcess`, `inv store stop`).
 * - It listens on a Unix socket in the data directory, `inv.sock`, and never on TCP: the
 *   directory's 0700 permissions are its access control, as they are the data's.
 * - It holds the data directory's lock as a long-lived holder; a process that opens the
 *   directory itself (`openInventory({ dataDir })`, an import, a worker) asks it to stop and
 *   takes over, so the two never run on the same files.
 * - A client checks whom it reaches: a store process of another build or another `INV_*`
 *   environment is stopped and replaced; one that does not answer, killed and replaced; a socket
 *   nobody listens on, replaced.
 *
 * This module loads no Effect, no PGlite and none of the store's code: a command that uses a
 * running store process pays for Node, its own code and one round trip on a local socket.
 */
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, realpathSync, statSync } from "node:fs"
import { type RequestOptions, request } from "node:http"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import type { Inventory } from "./Inventory.js"
import { LOCK_FILE, liveHolder, pidAlive, procStat } from "./internal/dataDirLock.js"
import { pathRefusal } from "./internal/dataDirPath.js"
import { allItems } from "./internal/paging.js"
import {
  decode,
  encode,
  errorFromWire,
  type Hello,
  SOCKET_FILE,
  STORE_PROCESS_HOLDER,
  type WireError
} from "./internal/storeProcessWire.js"

export { type Hello, LOG_FILE, SOCKET_FILE } from "./internal/storeProcessWire.js"

declare const SDK_VERSION: string
export const version: string = typeof SDK_VERSION === "string" ? SDK_VERSION : "development"

/** No answer to `/hello` within this: the store process is hung (or stopped), and is replaced. */
const UNRESPONSIVE_MS = 10_000
/** A fresh data directory runs initdb: seconds on a small machine, more under load. */
const STARTUP_TIMEOUT_MS = 120_000
/** How long a store process asked to stop may take before it is killed. */
const STOP_TIMEOUT_MS = 10_000
/** The longest path a Unix socket takes (108 bytes on Linux, 104 on macOS, with the NUL). */
const MAX_SOCKET_PATH_BYTES = 103

const DEFAULT_IDLE_SECONDS = 600
const IDLE_RULE = "must be a duration such as 90s, 10m or 1h (a plain number is seconds), at least 1 second"

/** An `InvalidInput` naming an environment variable, as the SDK's own errors look. */
const invalidVariable = (field: string, rule: string) =>
  errorFromWire({ _tag: "InvalidInput", message: `${field}: ${rule}`, fields: { field, rule } })

/**
 * A path that can be no store's directory (a file, a path through a file) is refused as the
 * store itself refuses it, before anything is started or asked.
 */
const checkPath = (dataDir: string) => {
  const rule = pathRefusal(resolve(dataDir))
  if (rule !== undefined)
    throw errorFromWire({
      _tag: "InvalidInput",
      message: `dataDir: ${rule}`,
      fields: { field: "dataDir", rule }
    })
}

const storeError = (reason: string) =>
  errorFromWire({ _tag: "StoreError", message: `The inventory store failed: ${reason}`, fields: { reason } })

/** `INV_STORE_PROCESS`: `on` (the default) or `off` (every command opens the store itself). */
export const enabled = (environment: NodeJS.ProcessEnv = process.env): boolean => {
  const value = (environment.INV_STORE_PROCESS ?? "").trim().toLowerCase()
  if (value === "" || value === "on") return true
  if (value === "off") return false
  throw invalidVariable("INV_STORE_PROCESS", "must be on or off")
}

/** `INV_STORE_IDLE` in seconds: `90s`, `10m`, `1h`, or a plain number of seconds. Default 10 minutes. */
export const idleSeconds = (environment: NodeJS.ProcessEnv = process.env): number => {
  const text = (environment.INV_STORE_IDLE ?? "").trim()
  if (text === "") return DEFAULT_IDLE_SECONDS
  const match = /^(\d+)(s|m|h)?$/.exec(text)
  const seconds = match ? Number(match[1]) * { s: 1, m: 60, h: 3600 }[(match[2] ?? "s") as "s"] : 0
  if (!(seconds >= 1)) throw invalidVariable("INV_STORE_IDLE", IDLE_RULE)
  return seconds
}

/**
 * The `INV_*` environment, hashed: the store process runs the SDK with the variables of the
 * command that started it, so a command with others does not use it.
 */
export const environmentOf = (environment: NodeJS.ProcessEnv = process.env): string =>
  createHash("sha256")
    .update(
      JSON.stringify(
        Object.entries(environment)
          .filter(([name]) => name.startsWith("INV_"))
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      )
    )
    .digest("base64url")

/** The store process's script: beside this module once built; the build's copy when run from sources (tests). */
export const mainScript = (): string => {
  const built = fileURLToPath(new URL("./storeProcessMain.js", import.meta.url))
  return existsSync(built) ? built : fileURLToPath(new URL("../dist/storeProcessMain.js", import.meta.url))
}

/** The version and the script's build: a rebuilt or upgraded install is another build. */
export const buildOf = (script: string): string => `${version}+${Math.round(statSync(script).mtimeMs)}`

/** Where the socket of the store process of `dataDir` is (every spelling of the directory: one socket). */
export const socketPath = (dataDir: string): string => {
  const absolute = resolve(dataDir)
  let real = absolute
  try {
    real = realpathSync(absolute)
  } catch {
    // Not created yet: the store process creates it.
  }
  return join(real, SOCKET_FILE)
}

/** A directory so deep that its socket path is longer than Unix sockets allow runs in-process. */
export const fitsSocket = (dataDir: string): boolean =>
  Buffer.byteLength(socketPath(dataDir)) <= MAX_SOCKET_PATH_BYTES

interface Answer {
  readonly status: number
  readonly body: string
}

class NoAnswer extends Error {}

const send = (
  socket: string,
  path: string,
  options: { readonly body?: string; readonly timeoutMs?: number } = {}
): Promise<Answer> =>
  new Promise((resolveAnswer, reject) => {
    const requestOptions: RequestOptions & { readonly servername: string } = {
      socketPath: socket,
      path,
      method: options.body === undefined ? "GET" : "POST",
      agent: false,
      // No TLS on a Unix socket: without a name given, Node's agent works one out by asking
      // whether the host is an IP address, and compiling that check's regular expression cost a
      // command 5 to 10 ms.
      servername: "",
      headers:
        options.body === undefined
          ? {}
          : { "content-type": "application/json", "content-length": Buffer.byteLength(options.body) }
    }
    const call = request(requestOptions, (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on("end", () =>
        resolveAnswer({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })
      )
      response.on("error", reject)
    })
    if (options.timeoutMs !== undefined) {
      call.setTimeout(options.timeoutMs, () =>
        call.destroy(new NoAnswer(`no answer within ${options.timeoutMs} ms`))
      )
    }
    call.on("error", reject)
    call.end(options.body)
  })

/**
 * No socket file, nobody listening on it (a store process that died and left it behind), or a
 * path that is no directory at all: a store process started there reports what is wrong, in the
 * data directory's own words (a file, not a directory; permission denied…).
 */
const isAbsent = (error: unknown) => typeof (error as NodeJS.ErrnoException).code === "string"

type Reached =
  | { readonly _tag: "Answered"; readonly hello: Hello }
  | { readonly _tag: "Absent" }
  | { readonly _tag: "Unresponsive" }

/** `use`: the caller is about to call, which keeps the store process from stopping as idle meanwhile. */
const hello = async (socket: string, use = false): Promise<Reached> => {
  try {
    const answer = await send(socket, use ? "/hello?use" : "/hello", { timeoutMs: UNRESPONSIVE_MS })
    if (answer.status !== 200) return { _tag: "Unresponsive" }
    return { _tag: "Answered", hello: decode(answer.body) as Hello }
  } catch (error) {
    if (error instanceof NoAnswer) return { _tag: "Unresponsive" }
    if (isAbsent(error)) return { _tag: "Absent" }
    throw storeError(`cannot reach the store process on ${socket}: ${(error as Error).message}`)
  }
}

/** CPU time (user + system, in clock ticks) a busy store process uses at least while not answering. */
const BUSY_CPU_TICKS = 10
/** How many unanswered `UNRESPONSIVE_MS` periods a busy store process is given before it is killed. */
const MAX_BUSY_WAITS = 6

/**
 * The CPU time `pid` has used, from /proc (Linux); undefined elsewhere, or for a process that is
 * stopped (SIGSTOP), a zombie or gone, so that it counts as hung.
 */
const cpuTime = (pid: number): number | undefined => {
  const fields = procStat(pid)
  if (fields === undefined || fields[0] === "T" || fields[0] === "t" || fields[0] === "Z") return undefined
  // After the state, fields 14 and 15 of the line: utime and stime.
  return Number(fields[11]) + Number(fields[12])
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms))

const waitForExit = async (pid: number, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false
    await sleep(20)
  }
  return true
}

/** The pid of the store process holding `dataDir`, from the directory's lock, even if it does not answer. */
const holderPid = (socket: string): number | undefined => {
  const holder = liveHolder(join(socket, "..", LOCK_FILE))
  return holder?.description === STORE_PROCESS_HOLDER ? holder.pid : undefined
}

const kill = async (pid: number) => {
  try {
    process.kill(pid, "SIGKILL")
  } catch {
    // gone already
  }
  await waitForExit(pid, STOP_TIMEOUT_MS)
}

/** Asks the store process on `socket` to stop, waits until it is gone; kills it if it does not go. */
const stopAt = async (socket: string, pid: number | undefined) => {
  try {
    await send(socket, "/stop", { body: "{}", timeoutMs: STOP_TIMEOUT_MS })
  } catch {
    // It may be gone already, or hung: the pid decides below.
  }
  if (pid !== undefined && !(await waitForExit(pid, STOP_TIMEOUT_MS))) await kill(pid)
}

export interface Status {
  readonly running: boolean
  readonly socket: string
  /** What the store process says about itself, when one answers. */
  readonly hello?: Hello
  /** A store process holds the directory but does not answer. */
  readonly unresponsivePid?: number
}

/** Whether a store process runs for `dataDir`, and what it says about itself. Starts nothing. */
export const status = async (dataDir: string): Promise<Status> => {
  checkPath(dataDir)
  const socket = socketPath(dataDir)
  const reached = await hello(socket)
  if (reached._tag === "Answered") return { running: true, socket, hello: reached.hello }
  const pid = holderPid(socket)
  return pid === undefined ? { running: false, socket } : { running: true, socket, unresponsivePid: pid }
}

/** Stops the store process of `dataDir` if one runs (killing it if it does not answer); answers its pid. */
export const stop = async (dataDir: string): Promise<number | undefined> => {
  checkPath(dataDir)
  const socket = socketPath(dataDir)
  const reached = await hello(socket)
  const pid = reached._tag === "Answered" ? reached.hello.pid : holderPid(socket)
  if (reached._tag === "Unresponsive" && pid !== undefined) await kill(pid)
  else if (reached._tag === "Answered") await stopAt(socket, pid)
  return pid
}

export interface ConnectOptions {
  /** Notices while the store process starts: a first run's initdb, a wait for another holder. */
  readonly onNotice?: ((message: string) => void) | undefined
  /** The environment whose `INV_*` variables it runs with. Default: this process's. */
  readonly environment?: NodeJS.ProcessEnv | undefined
}

type Started =
  | { readonly _tag: "Ready"; readonly hello: Hello }
  /** Another store process took the directory first (two commands started at once). */
  | { readonly _tag: "Busy" }

interface StartMessage {
  readonly type: "notice" | "ready" | "failed" | "busy"
  readonly message?: string
  readonly hello?: Hello
  readonly error?: WireError
}

/**
 * Starts a store process for `dataDir` and waits until it listens (or fails: its error is this
 * one's). It reports over an IPC channel that is closed once it is ready, so nothing of it stays
 * tied to the caller.
 */
const start = (dataDir: string, environment: NodeJS.ProcessEnv, onNotice: (message: string) => void) =>
  new Promise<Started>((resolveStart, reject) => {
    const child = spawn(process.execPath, [mainScript(), resolve(dataDir)], {
      detached: true,
      stdio: ["ignore", "ignore", "ignore", "ipc"],
      // Not the caller's directory: a long-lived process should not keep a mount busy.
      cwd: "/",
      env: environment
    })
    let settled = false
    const settle = (outcome: () => void) => {
      if (settled) return
      settled = true
      child.removeAllListeners()
      if (child.connected) child.disconnect()
      child.unref()
      outcome()
    }
    child.on("message", (message: StartMessage) => {
      if (message.type === "notice" && message.message !== undefined) onNotice(message.message)
      else if (message.type === "ready" && message.hello !== undefined)
        settle(() => resolveStart({ _tag: "Ready", hello: message.hello! }))
      else if (message.type === "busy") settle(() => resolveStart({ _tag: "Busy" }))
      else if (message.type === "failed" && message.error !== undefined)
        settle(() => reject(errorFromWire(message.error!)))
    })
    child.on("error", (error) =>
      settle(() => reject(storeError(`cannot start the store process: ${error.message}`)))
    )
    child.on("exit", (code, signal) =>
      settle(() =>
        reject(
          storeError(
            `the store process for ${resolve(dataDir)} stopped while starting (${signal ?? `exit code ${code}`}); its log is ${join(resolve(dataDir), "inv-store.log")}`
          )
        )
      )
    )
  })

/**
 * Waits for the store process another caller is starting; undefined if it went away without
 * answering (it failed: then this caller starts one and gets the failure itself).
 */
const waitUntilAnswering = async (socket: string): Promise<Hello | undefined> => {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  let unheldSince = Date.now()
  for (;;) {
    const reached = await hello(socket)
    if (reached._tag === "Answered") return reached.hello
    if (holderPid(socket) !== undefined) unheldSince = Date.now()
    else if (Date.now() - unheldSince > 1_000) return undefined
    if (Date.now() > deadline)
      throw storeError(`the store process for ${join(socket, "..")} did not start in time`)
    await sleep(25)
  }
}

/** A store process for `dataDir` that runs this build in this environment: the one running, or a new one. */
const ensureRunning = async (dataDir: string, options: ConnectOptions): Promise<Hello> => {
  const environment = options.environment ?? process.env
  const onNotice = options.onNotice ?? ((message: string) => process.emitWarning(message, "InvkitNotice"))
  const socket = socketPath(dataDir)
  const wanted = { build: buildOf(mainScript()), environment: environmentOf(environment) }
  // Checked before anything starts, so a bad value is the caller's error, not a process's.
  idleSeconds(environment)
  for (let attempt = 0; ; attempt++) {
    const pid = holderPid(socket)
    const cpuBefore = pid === undefined ? undefined : cpuTime(pid)
    const reached = await hello(socket, true)
    if (reached._tag === "Answered") {
      const { hello: found } = reached
      if (found.build === wanted.build && found.environment === wanted.environment) return found
      await stopAt(socket, found.pid)
    } else if (reached._tag === "Unresponsive" && pid !== undefined) {
      // PGlite runs on the store process's one thread: a long call delays the answer. One that
      // kept working meanwhile is busy, not hung, and is asked again (not killed mid-write).
      const cpuAfter = cpuTime(pid)
      const working =
        cpuBefore !== undefined && cpuAfter !== undefined && cpuAfter - cpuBefore >= BUSY_CPU_TICKS
      if (working && attempt < MAX_BUSY_WAITS) continue
      await kill(pid)
    }
    const started = await start(dataDir, environment, onNotice)
    if (started._tag === "Ready") return started.hello
    // Someone else's store process won the directory: use it once it answers, if it is ours to use.
    const other = await waitUntilAnswering(socket)
    if (other !== undefined && other.build === wanted.build && other.environment === wanted.environment)
      return other
    if (attempt >= 2)
      throw storeError(`cannot start a store process for ${join(socket, "..")}: others keep taking it`)
  }
}

const isInventoryError = (error: unknown) => typeof (error as { _tag?: unknown })?._tag === "string"

/** The facade's calls that run where the caller is, never in the store process. */
const notForwarded = (operation: string) => () =>
  Promise.reject(
    storeError(
      `${operation} runs in the calling process, not in the store process: open the inventory with openInventory({ dataDir })`
    )
  )

/**
 * The `Inventory` facade over the store process of `dataDir`, started if none runs (or replaced
 * if the one running is of another build or environment, hung, or gone). Each call runs in the
 * store process's own `openInventory`, so answers and errors are the in-process facade's (errors
 * keep their `_tag`, message and fields, though they are not instances of the SDK's classes).
 * Supplier syncs, previews and workers are not forwarded: they read files and the network from
 * the caller's directory and environment.
 */
export const connect = async (dataDir: string, options: ConnectOptions = {}): Promise<Inventory> => {
  checkPath(dataDir)
  let running = await ensureRunning(dataDir, options)
  const socket = socketPath(dataDir)
  let closed = false
  const call = async (method: string, args: ReadonlyArray<unknown>): Promise<unknown> => {
    if (closed) {
      throw errorFromWire({ _tag: "InventoryClosed", message: "The inventory is closed.", fields: {} })
    }
    const body = encode({ method, args })
    let answer: Answer
    try {
      // A connection per call (a local socket costs nothing to open): a refused one was never sent.
      answer = await send(socket, "/call", { body }).catch(async (error: unknown) => {
        // Refused: nothing was sent, so nothing ran. The store process stopped (asked to, by
        // another command replacing it): start one again and send the call to it once.
        if (
          (error as NodeJS.ErrnoException).code !== "ECONNREFUSED" &&
          (error as NodeJS.ErrnoException).code !== "ENOENT"
        )
          throw error
        running = await ensureRunning(dataDir, options)
        return send(socket, "/call", { body })
      })
    } catch (error) {
      if (isInventoryError(error)) throw error
      throw storeError(
        `the store process (pid ${running.pid}) stopped answering: ${(error as Error).message}; run the command again`
      )
    }
    const result = decode(answer.body) as { readonly value?: unknown; readonly error?: WireError }
    if (result.error !== undefined) throw errorFromWire(result.error)
    return result.value
  }
  const namespace = (name: string, local: Record<string, unknown> = {}) =>
    new Proxy(local, {
      get: (target, property) =>
        typeof property !== "string"
          ? undefined
          : property in target
            ? target[property]
            : (...args: Array<unknown>) => call(`${name}.${property}`, args)
    })
  const list =
    (method: string) =>
    (query: object): Promise<any> =>
      call(method, [query]) as Promise<any>
  const inventory = {
    store: running.store,
    products: namespace("products", { all: (query = {}) => allItems(list("products.list"), query) }),
    locations: namespace("locations"),
    stock: namespace("stock", {
      all: (query = {}) => allItems(list("stock.list"), query),
      allLow: (query = {}) => allItems(list("stock.low"), query)
    }),
    suppliers: namespace("suppliers", {
      sync: notForwarded("suppliers.sync"),
      syncMany: notForwarded("suppliers.syncMany"),
      preview: notForwarded("suppliers.preview"),
      worker: notForwarded("suppliers.worker")
    }),
    restock: namespace("restock"),
    reservations: namespace("reservations", {
      all: (query = {}) => allItems(list("reservations.list"), query)
    }),
    close: async () => {
      closed = true
    }
  }
  return inventory as unknown as Inventory
}
