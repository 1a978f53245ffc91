import { describe, expect, it } from "vitest"
import { runInv } from "./inv.js"

describe("inv --help", () => {
  // How fast is not a timed test: startup.test.ts checks that help loads none of the core.
  it("lists every command, the environment and the exit codes", async () => {
    const { code, stdout } = await runInv(["--help"])
    expect(code).toBe(0)
    expect(stdout).toContain("product add|update|get|list|archive")
    expect(stdout).toContain("stock set|adjust|transfer|get|list|low|overview|history")
    expect(stdout).toContain("location add|list")
    expect(stdout).toContain("supplier add|update|get|list|remove|sync|runs|items|worker")
    expect(stdout).toContain("reservation add|list|get|update|release|fulfil")
    expect(stdout).toContain("restock list|get|submit|receive|cancel")
    expect(stdout).toContain("reorder explain")
    expect(stdout).toContain("INV_DATABASE_URL")
    expect(stdout).toMatch(/4 {2}insufficient stock/)
    expect(stdout).toMatch(/6 {2}supplier sync failed/)
  })

  it("shows a command's arguments as required", async () => {
    const { code, stdout } = await runInv(["stock", "adjust", "--help"])
    expect(code).toBe(0)
    expect(stdout).toContain("Usage: inv stock adjust [options] <sku> <delta>")
  })

  it("treats a noun without a verb, or an unknown command, as a usage error (exit 2)", async () => {
    const bare = await runInv(["stock"])
    expect(bare.code).toBe(2)
    expect(bare.stderr).toContain("adjust")
    const unknown = await runInv(["stock", "count"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("unknown command 'count'")
  })

  it("reports a store that cannot be opened as a failure (exit 1), with its code in JSON", async () => {
    // Port 1 refuses at once: no server is needed to see the failure path.
    const { code, stdout, stderr } = await runInv([
      "--json",
      "--database-url",
      "postgres://nobody@127.0.0.1:1/inv",
      "stock",
      "overview"
    ])
    expect(code).toBe(1)
    expect(stdout).toBe("")
    expect(JSON.parse(stderr).error).toMatchObject({ code: "StoreError" })
  })
})
