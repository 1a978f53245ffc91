import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runInv } from "./inv.js"

// Help, the version and the completion scripts are printed before any store is opened, so none of
// the core may load for them: these are the packages that made `inv --help` 8× a bare Node.
const heavy = /^(effect|@effect\/.+|pg|@electric-sql\/pglite|cron-parser)$/
const recorder = new URL("./recordImports.mjs", import.meta.url).href
const scratch = mkdtempSync(join(tmpdir(), "inv-startup-"))

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** The package a resolved module belongs to: the path after the last node_modules. */
const packageOf = (url: string): string | undefined => {
  const at = url.lastIndexOf("/node_modules/")
  if (at < 0) return undefined
  const [scope, name] = url.slice(at + "/node_modules/".length).split("/")
  return scope?.startsWith("@") ? `${scope}/${name}` : scope
}

/** Runs `inv` with every module it resolves recorded: the packages, and the specifiers asked for. */
const loadedBy = async (args: ReadonlyArray<string>) => {
  const file = join(mkdtempSync(join(scratch, "run-")), "imports.tsv")
  const { code } = await runInv(args, {
    NODE_OPTIONS: `--import=${recorder}`,
    INV_TEST_IMPORTS_FILE: file
  })
  const rows = readFileSync(file, "utf8")
    .split("\n")
    .filter((row) => row !== "")
    .map((row) => row.split("\t") as [specifier: string, url: string])
  return {
    code,
    packages: new Set(rows.map(([, url]) => packageOf(url)).filter((name) => name !== undefined)),
    specifiers: new Set(rows.map(([specifier]) => specifier))
  }
}

describe("inv start-up", () => {
  it.each([
    [["--help"]],
    [["--version"]],
    [["stock", "--help"]],
    [["stock", "set", "--help"]],
    [["supplier", "add", "--help"]],
    [["completion", "bash"]],
    [["completion", "zsh"]],
    [["completion", "fish"]]
  ])("inv %j loads neither the SDK's index nor Effect, pg, PGlite or cron-parser", async (args) => {
    const { code, packages, specifiers } = await loadedBy(args)
    expect(code).toBe(0)
    // The recorder works: it saw the command tree's own library.
    expect(packages).toContain("commander")
    expect([...packages].filter((name) => heavy.test(name))).toEqual([])
    // `@invkit/sdk/rules` may load (help text and argument checks); the index pulls in the core.
    expect(specifiers).not.toContain("@invkit/sdk")
  })
})
