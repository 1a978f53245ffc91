/**
 * The embedded store's directory: one holder at a time (in this process and across processes),
 * private to its owner, and only ever a directory that is new, empty or already a store.
 */
import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process"
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import { PGlite } from "@electric-sql/pglite"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { afterAll, describe, expect, inject, it } from "vitest"
import { InvalidInput, openInventory, StoreError } from "../src/index.js"
import * as Store from "../src/Store.js"
import * as StoreProcess from "../src/StoreProcess.js"
import { looseEntries } from "./fileModes.js"

const root = mkdtempSync(join(tmpdir(), "invkit-sdk-datadir-"))
afterAll(() => rmSync(root, { recursive: true, force: true }))

let copies = 0
/** A migrated store of its own, copied from the template. */
const copyOfTemplate = (): string => {
  const dataDir = join(root, `store-${++copies}`, "data")
  cpSync(inject("pgliteTemplateDir"), dataDir, { recursive: true })
  return dataDir
}

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`)
    },
    (error: unknown) => error
  )

describe("two opens of one directory in one process", () => {
  it("the second waits for the first to close, then has all its writes, however the path is spelled", async () => {
    const dataDir = copyOfTemplate()
    const alias = join(dataDir, "..", "data")
    const link = join(root, `link-${copies}`)
    symlinkSync(dataDir, link)

    const first = await openInventory({ dataDir })
    const notices: Array<string> = []
    let secondOpened = false
    const opening = openInventory({
      dataDir: alias,
      lockWait: 30_000,
      onNotice: (m) => notices.push(m)
    }).then((inventory) => {
      secondOpened = true
      return inventory
    })
    await first.products.add({ sku: "TWICE-1", name: "Opened twice" })
    await first.stock.adjust("TWICE-1", 5)
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(secondOpened).toBe(false)
    expect(notices).toHaveLength(1)
    expect(notices[0]).toContain("another open of it in this process")
    await first.close()

    const second = await opening
    try {
      expect((await second.stock.level("TWICE-1")).onHand).toBe(5)
      await second.stock.adjust("TWICE-1", 3)
    } finally {
      await second.close()
    }
    const third = await openInventory({ dataDir: link })
    try {
      expect((await third.stock.level("TWICE-1")).onHand).toBe(8)
      expect((await third.stock.history("TWICE-1")).items).toHaveLength(2)
    } finally {
      await third.close()
    }
  })

  it("a second open the first does not make room for in time is refused, through `..` and a symlink alike", async () => {
    const dataDir = copyOfTemplate()
    const link = join(root, `link-${copies}`)
    symlinkSync(dataDir, link)
    const first = await openInventory({ dataDir })
    try {
      for (const spelling of [dataDir, join(dataDir, "..", "data"), link]) {
        const refused = await rejection(openInventory({ dataDir: spelling, lockWait: 200 }))
        expect(refused).toBeInstanceOf(StoreError)
        expect((refused as Error).message).toContain("already open in this process")
      }
      // The first is untouched by the refusals.
      await first.products.add({ sku: "ONCE-1", name: "Opened once" })
      expect((await first.products.get("ONCE-1")).name).toBe("Opened once")
    } finally {
      await first.close()
    }
  })

  it("a lock with this process's pid from before it started is a dead process's (a container's pid 1), and is taken over", async () => {
    const dataDir = copyOfTemplate()
    const earlier = { pid: process.pid, description: "inv-server all", longLived: true, nonce: "earlier-run" }
    writeFileSync(
      join(dataDir, "inv.lock"),
      JSON.stringify({ ...earlier, since: "2000-01-01T00:00:00.000Z" })
    )
    const inventory = await openInventory({ dataDir, lockWait: 0 })
    await inventory.close()
    expect(existsSync(join(dataDir, "inv.lock"))).toBe(false)
  })

  // A zombie: a process that has exited and whose parent does not collect it (here `sleep`, which
  // never waits for children). A store process stopped under an init that collects late, or not
  // at all (a container's first process), is one until then. The lock names a store process, as
  // one left it: taken as alive, it was asked to stop, waited for and retried without end.
  it.runIf(process.platform === "linux")(
    "a lock held by a process that has exited but was not collected is a dead process's, and is taken over",
    async () => {
      const dataDir = copyOfTemplate()
      const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 30"], {
        stdio: ["ignore", "pipe", "ignore"]
      })
      try {
        const pid = Number(
          await new Promise<string>((resolve) => parent.stdout!.once("data", (data) => resolve(String(data))))
        )
        const state = () => {
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
          return stat.charAt(stat.lastIndexOf(")") + 2)
        }
        while (state() !== "Z") await new Promise((resolve) => setTimeout(resolve, 10))
        writeFileSync(
          join(dataDir, "inv.lock"),
          JSON.stringify({
            pid,
            description: "inv store process",
            longLived: true,
            nonce: "exited",
            since: new Date().toISOString()
          })
        )
        const inventory = await openInventory({ dataDir, lockWait: 0 })
        await inventory.close()
        expect(existsSync(join(dataDir, "inv.lock"))).toBe(false)
      } finally {
        parent.kill()
      }
    }
  )

  it("a long-lived holder is named at once, without waiting", async () => {
    const dataDir = copyOfTemplate()
    const first = await openInventory({ dataDir, holder: { description: "nightly report", longLived: true } })
    try {
      const started = Date.now()
      const refused = await rejection(openInventory({ dataDir, lockWait: 20_000 }))
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(refused).toBeInstanceOf(StoreError)
      expect((refused as Error).message).toContain("nightly report")
    } finally {
      await first.close()
    }
  })
})

describe("a private data directory", () => {
  it("a new store under umask 022 has no file or directory that others may use, also what PostgreSQL writes while open", async () => {
    const previous = process.umask(0o022)
    const dataDir = join(root, "fresh", "data")
    try {
      const walBefore = await Effect.runPromise(
        Effect.scoped(
          Effect.gen(function* () {
            const context = yield* Layer.build(Store.layer(Store.embedded(dataDir)))
            expect(looseEntries(dataDir)).toEqual([])
            const client = Context.get(context, SqlClient.SqlClient)
            const before = readdirSync(join(dataDir, "pg_wal")).length
            // More than one WAL segment (16 MB) of writes, so PostgreSQL creates files while open.
            yield* client.unsafe(
              "insert into products (sku, name) select 'WAL-' || g, repeat('x', 400) from generate_series(1, 60000) g"
            )
            yield* client.unsafe("checkpoint")
            expect(statSync(dataDir).mode & 0o077).toBe(0)
            return before
          })
        )
      )
      expect(readdirSync(join(dataDir, "pg_wal")).length).toBeGreaterThan(walBefore)
      expect(looseEntries(dataDir)).toEqual([])
    } finally {
      process.umask(previous)
    }
  }, 120_000)

  it("an existing store that others could read is made private on open, saying so once", async () => {
    const dataDir = copyOfTemplate()
    const loosen = (path: string) => {
      const stats = lstatSync(path)
      chmodSync(path, stats.isDirectory() ? 0o755 : 0o644)
      if (stats.isDirectory()) for (const entry of readdirSync(path)) loosen(join(path, entry))
    }
    loosen(dataDir)
    const notices: Array<string> = []
    const inventory = await openInventory({ dataDir, onNotice: (m) => notices.push(m) })
    expect(looseEntries(dataDir)).toEqual([])
    await inventory.close()
    expect(notices).toHaveLength(1)
    expect(notices[0]).toContain(dataDir)
    expect(notices[0]).toContain("private")

    const again = await openInventory({ dataDir, onNotice: (m) => notices.push(m) })
    await again.close()
    expect(notices).toHaveLength(1)
  })
})

describe("only a new, empty or existing store", () => {
  const refusal = async (dataDir: string) => {
    const error = await rejection(openInventory({ dataDir }))
    expect(error).toBeInstanceOf(InvalidInput)
    expect(error).toMatchObject({ field: "dataDir" })
    return (error as Error).message
  }

  it("refuses a folder that is not a store, a file, and a path through a file, and writes nothing", async () => {
    const folder = mkdtempSync(join(root, "folder-"))
    writeFileSync(join(folder, "notes.txt"), "mine\n")
    const message = await refusal(folder)
    expect(message).toContain(folder)
    expect(message).toContain("not an inv store")
    expect(readdirSync(folder)).toEqual(["notes.txt"])

    const file = join(folder, "notes.txt")
    expect(await refusal(file)).toContain(`${file} is a file`)
    expect(await refusal(join(file, "data"))).toContain(`${join(file, "data")}: a part of the path is a file`)
    expect(readdirSync(folder)).toEqual(["notes.txt"])
  })

  // Only root can give a directory to another user; the CI machine runs the tests as root.
  it.skipIf(process.getuid?.() !== 0)(
    "refuses another user's directory, even an empty one it could make private",
    async () => {
      const foreign = mkdtempSync(join(root, "foreign-"))
      chmodSync(foreign, 0o777)
      chownSync(foreign, 65534, 65534)
      expect(await refusal(foreign)).toContain("belongs to another user (uid 65534)")
      // Nothing written, nothing changed: its owner still decides who may use it.
      expect(readdirSync(foreign)).toEqual([])
      expect(statSync(foreign).mode & 0o777).toBe(0o777)
    }
  )

  it("refuses a PostgreSQL data directory that holds no inventory", async () => {
    const dataDir = join(root, "other-database")
    const other = await PGlite.create({ dataDir })
    await other.close()
    expect(await refusal(dataDir)).toContain(
      `${dataDir} holds a PostgreSQL database that is not an inv store`
    )
    expect(existsSync(join(dataDir, "inv.store"))).toBe(false)
  }, 60_000)

  it("refuses a directory it cannot create, naming it", async () => {
    if (process.getuid?.() === 0) {
      // Root may write anywhere a mode forbids; sysfs refuses a new directory to root too.
      expect(await refusal("/sys/inv-test-data")).toContain(
        "cannot create /sys/inv-test-data: permission denied"
      )
      return
    }
    const parent = mkdtempSync(join(root, "locked-"))
    chmodSync(parent, 0o500)
    try {
      expect(await refusal(join(parent, "data"))).toContain("permission denied")
    } finally {
      chmodSync(parent, 0o700)
    }
  })

  it("refuses a directory where the file system makes none, without hanging (Node's recursive mkdir loops there)", async () => {
    // /proc answers ENOENT to a new directory under itself, to root too.
    expect(await refusal("/proc/inv-test/data")).toContain(
      "cannot create /proc/inv-test/data: no directory can be created in /proc"
    )
  }, 20_000)

  it("the store process's client refuses a file and a path through a file as the store does, starting nothing", async () => {
    const folder = mkdtempSync(join(root, "client-"))
    const file = join(folder, "notes.txt")
    writeFileSync(file, "mine\n")
    for (const dataDir of [file, join(file, "data")]) {
      const expected = (await refusal(dataDir)) as string
      for (const call of [
        () => StoreProcess.connect(dataDir, { onNotice: () => {} }),
        () => StoreProcess.status(dataDir),
        () => StoreProcess.stop(dataDir)
      ]) {
        const error = await rejection(call())
        expect(error).toMatchObject({ _tag: "InvalidInput", field: "dataDir", message: expected })
      }
    }
    expect(readdirSync(folder)).toEqual(["notes.txt"])
  })

  it("makes a store in an empty or missing directory, and opens one from before the marker, marking it", async () => {
    // Empty but for a mounted volume's lost+found, which is the file system's and left as it is.
    const empty = mkdtempSync(join(root, "empty-"))
    chmodSync(empty, 0o755)
    mkdirSync(join(empty, "lost+found"), { mode: 0o755 })
    chmodSync(join(empty, "lost+found"), 0o755)
    const inEmpty = await openInventory({ dataDir: empty, onNotice: () => {} })
    await inEmpty.close()
    expect(existsSync(join(empty, "inv.store"))).toBe(true)
    expect(looseEntries(empty)).toEqual([`${join(empty, "lost+found")} 755`])

    const legacy = copyOfTemplate()
    rmSync(join(legacy, "inv.store"))
    const old = await openInventory({ dataDir: legacy })
    expect((await old.stock.overview()).products).toBeGreaterThanOrEqual(0)
    await old.close()
    expect(existsSync(join(legacy, "inv.store"))).toBe(true)
  }, 60_000)
})

describe("one holder across processes", () => {
  const racer = fileURLToPath(new URL("./lockRacer.mjs", import.meta.url))
  const built = fileURLToPath(new URL("../dist/index.js", import.meta.url))

  it.runIf(existsSync(built))(
    "processes racing for a free lock or a dead holder's lock: exactly one wins each of 200 rounds",
    async () => {
      const dataDir = join(root, "raced")
      mkdirSync(dataDir, { recursive: true, mode: 0o700 })
      writeFileSync(join(dataDir, "inv.store"), "")
      // A pid that is certainly dead: a process that has exited.
      const deadPid = spawnSync(process.execPath, ["-e", ""]).pid!
      const children: Array<ChildProcess> = Array.from({ length: 4 }, () =>
        fork(racer, [dataDir], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
      )
      const next = (child: ChildProcess) =>
        new Promise<any>((resolve) => child.once("message", (message) => resolve(message)))
      try {
        await Promise.all(children.map(next))
        for (let round = 1; round <= 200; round++) {
          if (round % 2 === 0) {
            // A lock left by a process that died: every racer sees a dead holder at once.
            writeFileSync(
              join(dataDir, "inv.lock"),
              JSON.stringify({
                pid: deadPid,
                description: "dead",
                longLived: false,
                since: "",
                nonce: `dead-${round}`
              })
            )
          }
          const answers = await Promise.all(
            children.map((child) => {
              const answer = next(child)
              child.send({ round })
              return answer
            })
          )
          const winners = answers.filter((answer) => answer.won)
          expect({ round, winners: winners.length }).toEqual({ round, winners: 1 })
          for (const loser of answers.filter((answer) => !answer.won)) expect(loser.error).toBe("StoreError")
          await Promise.all(
            children.map((child) => {
              const answer = next(child)
              child.send({ release: round })
              return answer
            })
          )
          expect(existsSync(join(dataDir, "inv.lock"))).toBe(false)
        }
      } finally {
        for (const child of children) child.kill()
      }
    },
    120_000
  )
})
