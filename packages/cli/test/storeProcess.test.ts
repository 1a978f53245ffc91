/**
 * The store process that keeps the embedded store open between commands: started by the first
 * command, reused by the next, replaced when it died, hangs, left a socket behind, or runs another
 * build or environment; stopped by `inv store stop` or when idle; and what a warm command loads.
 */
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { looseEntries } from "../../sdk/test/fileModes.js"
import { runInv } from "./inv.js"
import { copyOfTemplateStore, type Store, target } from "./store.js"

const storeProcessScript = fileURLToPath(new URL("../../sdk/dist/storeProcessMain.js", import.meta.url))
const recorder = new URL("./recordImports.mjs", import.meta.url).href

/**
 * Running: it exists and has not exited. A process that has exited but not been collected (a
 * zombie, state Z) is gone: it holds nothing and waits only for the system's first process.
 */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  if (process.platform !== "linux") return true
  try {
    return !/^\d+ \(.*\) Z /s.test(readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

const until = async (condition: () => boolean, what: string, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The package a resolved module belongs to: the path after the last node_modules. */
const packageOf = (url: string): string | undefined => {
  const at = url.lastIndexOf("/node_modules/")
  if (at < 0) return undefined
  const [scope, name] = url.slice(at + "/node_modules/".length).split("/")
  return scope?.startsWith("@") ? `${scope}/${name}` : scope
}

describe.skipIf(target === "server")("the store process", () => {
  let store: Store

  const status = async (variables: Record<string, string> = {}) => {
    const run = await store.invWith(variables, "--json", "store", "status")
    expect(run.code).toBe(0)
    return JSON.parse(run.stdout) as { running: boolean; responding: boolean; pid: number | null }
  }
  const pidNow = async () => {
    const found = await status()
    expect(found.running).toBe(true)
    return found.pid as number
  }
  const level = async () => (await store.json("stock", "get", "SP-1")).onHand as number

  beforeAll(async () => {
    store = await copyOfTemplateStore()
    await store.json("product", "add", "SP-1", "--name", "Store process widget")
  }, 120_000)
  afterAll(async () => {
    await runInv(["--data-dir", store.dataDir, "store", "stop"])
    await store?.close()
  })

  it("is started by the first command and used by the next ones; status says so", async () => {
    await store.inv("store", "stop")
    expect((await status()).running).toBe(false)
    expect((await store.inv("stock", "set", "SP-1", "5")).code).toBe(0)
    const first = await pidNow()
    expect(alive(first)).toBe(true)
    expect(await level()).toBe(5)
    expect(await pidNow()).toBe(first)
    const human = await store.inv("store", "status")
    expect(human.stdout).toContain(`pid:      ${first}`)
    expect(human.stdout).toMatch(/idle: +\d+ s \(stops after 30 s idle\)/)
  }, 120_000)

  it("warms up once its calls pause, and the warm-up writes nothing", async () => {
    const log = join(store.dataDir, "inv-store.log")
    await store.inv("store", "stop")
    rmSync(log, { force: true })
    expect((await store.inv("stock", "set", "SP-1", "7")).code).toBe(0)
    const before = await store.json("stock", "history", "SP-1")
    await until(() => readFileSync(log, "utf8").includes("warmed up in"), "the warm-up in the log")
    expect(readFileSync(log, "utf8")).not.toContain("warming up failed")
    // Its dry run (a set and an adjustment of the level) was rolled back: no movement, no change.
    expect(await store.json("stock", "history", "SP-1")).toEqual(before)
    expect(await level()).toBe(7)
    const next = await store.json("stock", "adjust", "SP-1", "1")
    expect(next.onHand).toBe(8)
  }, 60_000)

  it("a warm command loads neither PGlite, Effect, pg nor the SDK's index", async () => {
    const file = join(mkdtempSync(join(inject("scratchDir"), "imports-")), "imports.tsv")
    // The same INV_* environment as the recorded run, so that run finds this store process its own.
    const variables = { INV_TEST_IMPORTS_FILE: file }
    expect((await store.invWith(variables, "stock", "set", "SP-1", "7")).code).toBe(0)
    const pid = await pidNow()
    writeFileSync(file, "")
    const run = await store.invWith(
      { ...variables, NODE_OPTIONS: `--import=${recorder}` },
      "stock",
      "get",
      "SP-1"
    )
    expect(run.code).toBe(0)
    expect(run.stdout).toContain("SP-1")
    expect(await pidNow()).toBe(pid)
    const rows = readFileSync(file, "utf8")
      .split("\n")
      .filter((row) => row !== "")
      .map((row) => row.split("\t") as [specifier: string, url: string])
    const packages = new Set(rows.map(([, url]) => packageOf(url)).filter((name) => name !== undefined))
    // The recorder works: it saw the command tree's own library and the store process's client.
    expect(packages).toContain("commander")
    expect(rows.map(([specifier]) => specifier)).toContain("@invkit/sdk/store-process")
    expect(
      [...packages].filter((name) => /^(effect|@effect\/.+|pg|@electric-sql\/pglite)$/.test(name))
    ).toEqual([])
    expect(rows.map(([specifier]) => specifier)).not.toContain("@invkit/sdk")
  }, 120_000)

  it("killed with -9 between two commands, is replaced without the next command noticing", async () => {
    const before = await pidNow()
    process.kill(before, "SIGKILL")
    await until(() => !alive(before), "the killed store process to go")
    // It left its socket behind: a socket nobody listens on.
    expect(lstatSync(join(store.dataDir, "inv.sock")).isSocket()).toBe(true)
    const run = await store.inv("stock", "adjust", "SP-1", "1", "--reason", "receipt")
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" })
    const after = await pidNow()
    expect(after).not.toBe(before)
    expect(await level()).toBe(8)
  }, 120_000)

  it("a leftover file where the socket goes is replaced", async () => {
    await store.inv("store", "stop")
    writeFileSync(join(store.dataDir, "inv.sock"), "not a socket", { mode: 0o600 })
    const run = await store.inv("stock", "get", "SP-1")
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" })
    expect(lstatSync(join(store.dataDir, "inv.sock")).isSocket()).toBe(true)
  }, 120_000)

  it("one that does not answer (stopped with SIGSTOP) is killed and replaced", async () => {
    const hung = await pidNow()
    process.kill(hung, "SIGSTOP")
    try {
      const run = await store.inv("stock", "get", "SP-1")
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" })
      await until(() => !alive(hung), "the hung store process to be killed")
      expect(await pidNow()).not.toBe(hung)
    } finally {
      if (alive(hung)) process.kill(hung, "SIGKILL")
    }
  }, 120_000)

  it("one of another build, or started in another INV_* environment, is stopped and replaced", async () => {
    const old = await pidNow()
    const { atime, mtime } = statSync(storeProcessScript)
    // What an upgrade or a rebuild does to the script the store process runs.
    utimesSync(storeProcessScript, atime, new Date(mtime.getTime() + 1_000))
    try {
      expect((await store.inv("stock", "get", "SP-1")).code).toBe(0)
    } finally {
      utimesSync(storeProcessScript, atime, mtime)
    }
    const rebuilt = await pidNow()
    expect(rebuilt).not.toBe(old)
    expect(alive(old)).toBe(false)

    expect((await store.invWith({ INV_LOCK_WAIT: "7" }, "stock", "get", "SP-1")).code).toBe(0)
    const otherEnvironment = (await status({ INV_LOCK_WAIT: "7" })).pid as number
    expect(otherEnvironment).not.toBe(rebuilt)
    expect(alive(rebuilt)).toBe(false)
  }, 120_000)

  it("twenty commands at once all go through one store process, and no change is lost", async () => {
    const start = await level()
    await store.inv("store", "stop")
    const log = join(store.dataDir, "inv-store.log")
    rmSync(log, { force: true })
    const runs = await Promise.all(
      Array.from({ length: 20 }, () => store.inv("stock", "adjust", "SP-1", "1", "--reason", "receipt"))
    )
    for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" })
    expect(await level()).toBe(start + 20)
    // Twenty commands found none running, and one store process started listening.
    expect(readFileSync(log, "utf8").match(/listening on/g)).toHaveLength(1)
  }, 180_000)

  it("keeps its socket, log and lock private, and leaves nothing others may read", async () => {
    await store.inv("store", "stop")
    expect((await store.inv("stock", "get", "SP-1")).code).toBe(0)
    for (const file of ["inv.sock", "inv-store.log", "inv.lock"]) {
      expect((statSync(join(store.dataDir, file)).mode & 0o777).toString(8)).toBe("600")
    }
    expect(looseEntries(store.dataDir)).toEqual([])
  }, 60_000)

  it("compiles its core from a code cache in the data directory (0600), made again when it does not match", async () => {
    const cache = join(store.dataDir, "inv-store.cache")
    const log = join(store.dataDir, "inv-store.log")
    /** Starts a store process with a command, and answers what its log says of the cache. */
    const coldStart = async () => {
      await store.inv("store", "stop")
      rmSync(log, { force: true })
      expect((await store.inv("stock", "get", "SP-1")).code).toBe(0)
      // The cache is saved once the first call is answered, so possibly after the command ends.
      await until(
        () => /code cache (used|made)/.test(readFileSync(log, "utf8")),
        "the cache's fate in the log"
      )
      return readFileSync(log, "utf8")
    }

    rmSync(cache, { force: true })
    expect(await coldStart()).toMatch(/code cache missing\)[\s\S]*code cache made \(it was missing\)/)
    expect((statSync(cache).mode & 0o777).toString(8)).toBe("600")
    expect(await coldStart()).toContain("code cache used)")

    // Another source or Node (the hash it begins with differs): not given to V8 at all.
    const made = readFileSync(cache)
    writeFileSync(cache, Buffer.concat([Buffer.alloc(32), made.subarray(32)]))
    expect(await coldStart()).toContain("code cache made (it was stale)")
    // The right hash, and data V8 refuses.
    writeFileSync(cache, Buffer.concat([made.subarray(0, 32), Buffer.alloc(made.length - 32, 7)]))
    expect(await coldStart()).toContain("code cache made (it was rejected)")
    expect(await coldStart()).toContain("code cache used)")
    expect(readFileSync(cache).subarray(0, 32).equals(made.subarray(0, 32))).toBe(true)
  }, 120_000)

  it("inv store stop stops it at once and leaves no process or socket behind", async () => {
    const pid = await pidNow()
    const stopped = await store.inv("--json", "store", "stop")
    expect(stopped.code).toBe(0)
    expect(JSON.parse(stopped.stdout)).toMatchObject({ stopped: true, pid })
    expect(alive(pid)).toBe(false)
    expect(() => lstatSync(join(store.dataDir, "inv.sock"))).toThrow()
    expect(await status()).toMatchObject({ running: false, pid: null })
    const again = await store.inv("store", "stop")
    expect(again.stderr).toContain("No store process runs for")
  }, 60_000)

  it("stops by itself after INV_STORE_IDLE without calls", async () => {
    expect((await store.invWith({ INV_STORE_IDLE: "1s" }, "stock", "get", "SP-1")).code).toBe(0)
    const pid = (await status({ INV_STORE_IDLE: "1s" })).pid as number
    // Idle once the starting command's call is in (the store process gives a client it just
    // answered 10 s to call), then 1 s without a call.
    await until(() => !alive(pid), "the idle store process to stop", 45_000)
    expect(() => lstatSync(join(store.dataDir, "inv.sock"))).toThrow()
  }, 90_000)

  it("stops by itself once its directory is removed, instead of holding the deleted store until idle", async () => {
    const doomed = await copyOfTemplateStore()
    expect((await doomed.inv("stock", "overview")).code).toBe(0)
    const found = await doomed.invWith({}, "--json", "store", "status")
    const pid = (JSON.parse(found.stdout) as { pid: number }).pid
    expect(alive(pid)).toBe(true)
    // Once it has stopped writing files of its own accord (its code cache, after its warm-up).
    const log = join(doomed.dataDir, "inv-store.log")
    await until(() => readFileSync(log, "utf8").includes("warmed up"), "the warm-up in the log")
    // It may still write files while the directory goes (CI runs saw ENOTEMPTY after the warm-up,
    // for over a second): what is left is removed again until it has stopped, as `rm -rf` run
    // again would. Its socket goes with the first pass.
    const remove = () => {
      try {
        rmSync(doomed.dataDir, { recursive: true, force: true })
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOTEMPTY") throw error
      }
    }
    remove()
    // Its idle limit is ten minutes: only noticing that its socket is gone stops it this soon.
    await until(
      () => {
        remove()
        return !alive(pid)
      },
      "the store process to stop once its directory is gone",
      30_000
    )
    remove()
    expect(existsSync(doomed.dataDir)).toBe(false)
  }, 90_000)

  it("INV_STORE_PROCESS=off opens the store in the command, taking it over from a running store process", async () => {
    expect((await store.inv("stock", "get", "SP-1")).code).toBe(0)
    const pid = await pidNow()
    const run = await store.invWith({ INV_STORE_PROCESS: "off" }, "stock", "adjust", "SP-1", "1")
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" })
    expect(alive(pid)).toBe(false)
    expect((await status()).running).toBe(false)
  }, 120_000)

  it("refuses a bad INV_STORE_PROCESS or INV_STORE_IDLE by name, starting nothing", async () => {
    await store.inv("store", "stop")
    const process = await store.invWith({ INV_STORE_PROCESS: "maybe" }, "stock", "get", "SP-1")
    expect(process.code).toBe(2)
    expect(process.stderr).toContain("INV_STORE_PROCESS: must be on or off")
    const idle = await store.invWith({ INV_STORE_IDLE: "soon" }, "stock", "get", "SP-1")
    expect(idle.code).toBe(2)
    expect(idle.stderr).toContain("INV_STORE_IDLE: must be a duration")
    expect((await status()).running).toBe(false)
  }, 60_000)

  it("inv store status needs the embedded store", async () => {
    const run = await runInv(["--database-url", "postgres://nobody@127.0.0.1:1/none", "store", "status"])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain("inv store status is about the embedded store's store process")
  })
})
