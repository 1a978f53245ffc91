/**
 * Files named on the command line (`inv import <file>`, `--errors`, `export --output`): a path
 * that cannot be read or written is one sentence naming the option and the path, exit 2, and
 * changes nothing; what inv writes is readable by its owner alone. The embedded store only:
 * the paths are on this machine whatever the target.
 */
import { spawnSync } from "node:child_process"
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync
} from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { binPath, runInv } from "./inv.js"
import { copyOfTemplateStore, type Store } from "./store.js"

let store: Store
let dir: string
let counts: string

beforeAll(async () => {
  store = await copyOfTemplateStore()
  dir = mkdtempSync(join(store.dataDir, "..", "files-"))
  expect((await store.inv("product", "add", "F-1", "--name", "File test")).code).toBe(0)
  counts = join(dir, "counts.csv")
  writeFileSync(counts, "sku,quantity\nF-1,5\nNOPE-1,3\n")
})

afterAll(() => store?.close())

const expectOneSentence = (run: { code: number; stdout: string; stderr: string }, says: string) => {
  expect(run.code, run.stderr).toBe(2)
  expect(run.stdout).toBe("")
  expect(run.stderr).toMatch(/^error: [^\n]+\n$/)
  expect(run.stderr).not.toMatch(/\n\s+at /)
  expect(run.stderr).toContain(says)
}

describe("file arguments", () => {
  it("refuses an import of a directory or a missing file, naming <file> and the path", async () => {
    expectOneSentence(await store.inv("import", dir), `<file> ${dir}: it is a directory`)
    const missing = join(dir, "missing.csv")
    expectOneSentence(await store.inv("import", missing), `<file> ${missing}: no such file`)
  })

  it("refuses --errors that is a directory, in a missing directory or in one it cannot write to, importing nothing", async () => {
    const missing = join(dir, "missing")
    // A parent no one may create files in: root may write to any directory, but not to /proc.
    const unwritable = join("/proc", "inv-rejected.csv")
    for (const [path, says] of [
      [dir, `--errors ${dir}: it is a directory`],
      [join(missing, "x.csv"), `--errors ${join(missing, "x.csv")}: the directory ${missing} does not exist`],
      [unwritable, `--errors ${unwritable}: no file can be created in /proc`]
    ] as const) {
      expectOneSentence(await store.inv("import", counts, "--errors", path), says)
    }
    expect((await store.json("stock", "overview")).movements).toBe(0)
  })

  it("refuses export --output that is a directory or cannot be created", async () => {
    expectOneSentence(
      await store.inv("export", "products", "--output", dir),
      `--output ${dir}: it is a directory`
    )
    const missing = join(dir, "missing")
    expectOneSentence(
      await store.inv("export", "products", "--output", join(missing, "out.csv")),
      `--output ${join(missing, "out.csv")}: the directory ${missing} does not exist; create it first`
    )
  })

  it("never writes over the file being imported, nor into the store's directory", async () => {
    const copy = join(dir, "copy.csv")
    writeFileSync(copy, "sku,quantity\nF-1,5\nNOPE-1,3\n")
    expectOneSentence(
      await store.inv("import", copy, "--errors", copy),
      `--errors ${copy}: it is the file being read; name another file`
    )
    expect(readFileSync(copy, "utf8")).toBe("sku,quantity\nF-1,5\nNOPE-1,3\n")
    // An export over one of the store's own files left a store that no longer opened.
    const conf = join(store.dataDir, "postgresql.conf")
    for (const target of [conf, join(store.dataDir, "products.csv")]) {
      expectOneSentence(
        await store.inv("export", "products", "--output", target),
        `--output ${target}: it is in the store's directory`
      )
    }
    expect((await store.inv("stock", "overview")).code).toBe(0)
  })

  it("leaves a file that was there as it was when the command fails, and follows no link", async () => {
    const precious = join(dir, "precious.csv")
    writeFileSync(precious, "precious\n")
    chmodSync(precious, 0o644)
    // A store that cannot be opened: a foreign directory with files in it.
    const foreign = join(dir, "foreign")
    mkdirSync(foreign)
    writeFileSync(join(foreign, "notes.txt"), "not a store")
    const failed = await runInv(["--data-dir", foreign, "export", "products", "--output", precious])
    expect(failed.code, failed.stderr).not.toBe(0)
    expect(readFileSync(precious, "utf8")).toBe("precious\n")
    const failedImport = await runInv(["--data-dir", foreign, "import", counts, "--errors", precious])
    expect(failedImport.code, failedImport.stderr).not.toBe(0)
    expect(readFileSync(precious, "utf8")).toBe("precious\n")
    // A link to a file is refused: the export went into the file it pointed to.
    const link = join(dir, "link.csv")
    symlinkSync(precious, link)
    expectOneSentence(
      await store.inv("export", "products", "--output", link),
      `--output ${link}: it is a symbolic link`
    )
    expect(readFileSync(precious, "utf8")).toBe("precious\n")
    // Done, the export takes the file's place, owner-only whatever the old file's mode was.
    expect((await store.inv("export", "products", "--output", precious)).code).toBe(0)
    expect(readFileSync(precious, "utf8")).toContain("F-1")
    expect(statSync(precious).mode & 0o777).toBe(0o600)
    // And nothing is left beside it.
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([])
  })

  it("refuses a store option given empty, instead of working on the default store", async () => {
    // `--data-dir "$UNSET"` counted as no option: the command ran on the user's real store.
    for (const flag of ["--data-dir", "--server", "--database-url"]) {
      expectOneSentence(await runInv([flag, "", "stock", "overview"]), `${flag}: is empty`)
    }
  })

  // Only root can hand a store to another user and run a command as that user.
  it.skipIf(process.getuid?.() !== 0)(
    "refuses another user's store in one sentence naming it, not with the system's error",
    async () => {
      // As another user, root's store (0700) answered `EACCES: permission denied, open …/inv.lock`.
      const run = spawnSync(
        "setpriv",
        ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, binPath, "stock", "overview"],
        { env: { ...process.env, HOME: "/tmp", INV_HOME: store.dataDir }, encoding: "utf8" }
      )
      expect(run.status, run.stderr).toBe(2)
      // Named as another user's, or as one it cannot reach (the test's own parents are 0700).
      expect(run.stderr).toMatch(
        /^error: INV_HOME: (\S+ belongs to another user \(uid 0\)|cannot use \S+: permission denied)/
      )
      expect(run.stderr).not.toMatch(/^error: EACCES/)
    }
  )

  it("writes to a device as it is", async () => {
    expect((await store.inv("export", "products", "--output", "/dev/null")).code).toBe(0)
  })

  it("writes the errors file and the export readable by their owner alone (0600)", async () => {
    const errors = join(dir, "rejected.csv")
    expect((await store.inv("import", counts, "--errors", errors)).code).toBe(8)
    const output = join(dir, "products.csv")
    expect((await store.inv("export", "products", "--output", output)).code).toBe(0)
    for (const file of [errors, output]) expect(statSync(file).mode & 0o777, file).toBe(0o600)
  })
})
