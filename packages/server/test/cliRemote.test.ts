/**
 * The CLI's remote mode: the built `inv` with `--server` (or INV_URL) against `inv-server all` in
 * this process, on a fresh PostgreSQL database — the same commands, output and exit codes as on
 * a local store.
 */
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect } from "@invkit/sdk"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { INV, inv, jwtAuth, postgresReachable, startAllOnFreshDatabase, testToken } from "./utils.js"

const reachable = await postgresReachable()

describe.skipIf(!reachable)("inv against a server (--server, INV_URL)", () => {
  let url = ""
  let token = ""
  const scratch = mkdtempSync(join(tmpdir(), "inv-cli-remote-"))
  const cleanups: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    if (!existsSync(INV)) throw new Error(`${INV} is missing: run pnpm build first`)
    const server = await startAllOnFreshDatabase({ auth: jwtAuth })
    cleanups.unshift(server.stop)
    url = server.baseUrl
    token = await testToken("operator", "cli-remote")
  })

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  })

  it("runs product and stock commands remotely, with the local exit codes", async () => {
    const remote = ["--server", url, "--token", token]
    const admin = ["--server", url, "--token", await testToken("admin", "cli-admin")]
    expect(
      (await inv([...admin, "product", "add", "R-1", "--name", "Remote widget", "--reorder-point", "5"])).code
    ).toBe(0)
    expect((await inv([...remote, "stock", "set", "R-1", "10"])).code).toBe(0)
    expect((await inv([...remote, "stock", "adjust", "R-1", "-3", "--reason", "sale"])).code).toBe(0)

    const level = await inv(["--json", "stock", "get", "R-1"], { INV_URL: url, INV_TOKEN: token })
    expect(level.code).toBe(0)
    expect(JSON.parse(level.stdout)).toMatchObject({ sku: "R-1", onHand: 7 })

    const refused = await inv([...remote, "stock", "adjust", "R-1", "-100"])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain("7 available")

    const unknown = await inv([...remote, "stock", "get", "NOPE"])
    expect(unknown.code).toBe(3)

    const history = await inv([...remote, "--json", "stock", "history", "R-1"])
    const movements = JSON.parse(history.stdout).items as ReadonlyArray<{ delta: number; actor: string }>
    expect(movements.map((m) => m.delta)).toEqual([-3, 10])
    // The server records the token's subject, whatever the local user is called.
    expect(movements.map((m) => m.actor)).toEqual(["cli-remote", "cli-remote"])

    // An operator may not manage products: exit 7, nothing changed.
    const forbidden = await inv([...remote, "product", "add", "R-2", "--name", "Not allowed"])
    expect(forbidden.code).toBe(7)
    expect(forbidden.stderr).toContain("needs the admin role")
    const notAdded = await inv([...admin, "product", "get", "R-2"])
    expect(notAdded.code, notAdded.stderr).toBe(3)

    // What runs only where the data is: the worker is refused in the CLI's words; a dry run of a
    // supplier's feed reads the feed from this machine.
    const worker = await inv([...remote, "supplier", "worker"])
    expect(worker.code).toBe(2)
    expect(worker.stderr).toContain("inv supplier worker runs where the data is, not against a server")
    const feed = join(scratch, "feed.csv")
    writeFileSync(feed, "sku,cost\nF-1,2.5\nF-2,3\n")
    const dryRun = await inv([
      ...remote,
      "--json",
      "supplier",
      "add",
      "--dry-run",
      "--csv",
      feed,
      "--map",
      "supplierSku=sku"
    ])
    expect(dryRun.code, dryRun.stderr).toBe(0)
    expect(JSON.parse(dryRun.stdout)).toMatchObject({ total: 2 })

    // A token the server did not sign: exit 7, with what to do.
    const refusedToken = await inv(["--server", url, "--token", "not-a-token", "stock", "get", "R-1"])
    expect(refusedToken.code).toBe(7)
    expect(refusedToken.stderr).toContain("Not authenticated")
  }, 60_000)

  it("imports counts over the server in batches: bad rows reported by line, a second run adds nothing", async () => {
    const admin = ["--server", url, "--token", await testToken("admin", "cli-admin")]
    const operator = ["--server", url, "--token", token]
    const skus = Array.from({ length: 30 }, (_, i) => `IMP-${i}`)
    const products = join(scratch, "products.csv")
    writeFileSync(products, ["sku,name", ...skus.map((sku) => `${sku},Imported ${sku}`)].join("\n"))
    expect((await inv([...admin, "import", products])).code).toBe(0)

    // 2,520 counts (30 SKUs at 84 locations): three batches, with two bad rows among them.
    const locations = Array.from({ length: 84 }, (_, i) => `bin-${i}`)
    const sdk = connect({ url, token: await testToken("admin", "cli-admin") })
    for (const code of locations) await sdk.locations.add({ code })
    await sdk.close()
    const counts = locations.flatMap((location) => skus.map((sku, i) => `${sku},${location},${i}`))
    const file = join(scratch, "counts.csv")
    const rows = ["sku,location,quantity", ...counts]
    rows.splice(5, 0, "IMP-1,default,lots") // line 6: not a number
    rows.splice(10, 0, "NOPE-1,default,4") // line 11: unknown SKU
    writeFileSync(file, rows.join("\n"))
    const first = await inv([...operator, "--json", "import", file])
    expect(first.code, first.stderr).toBe(8)
    const rejected = first.stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line).rejected)
      // The closing line is the error that says rows were rejected.
      .filter((rejection) => rejection !== undefined)
    expect(rejected.map((r: { line: number; code: string }) => [r.line, r.code])).toEqual([
      [6, "invalid-value"],
      [11, "unknown-sku"]
    ])
    const level = JSON.parse(
      (await inv([...operator, "--json", "stock", "get", "IMP-29", "--location", "bin-83"])).stdout
    )
    expect(level.onHand).toBe(29)
    const overview = JSON.parse((await inv([...operator, "--json", "stock", "overview"])).stdout)
    expect(overview.units).toBe(84 * ((29 * 30) / 2) + 7)
    const before = JSON.parse((await inv([...operator, "--json", "stock", "history", "IMP-29"])).stdout)

    const again = await inv([...operator, "--json", "import", file])
    expect(again.code).toBe(8)
    const after = JSON.parse((await inv([...operator, "--json", "stock", "history", "IMP-29"])).stdout)
    expect(after.items).toHaveLength(before.items.length)
    expect(after.items[0].actor).toBe("cli-remote")

    // --on-error abort over the server: every batch is checked by a dry run first, so a row only
    // the store can refuse (an adjustment below zero) stops the import before anything is written.
    const adjustments = join(scratch, "adjustments.csv")
    // 1,020 good rows (two batches), then one the store refuses: the first batch would have been
    // applied before the refusal without the check.
    const good = locations.slice(0, 34).flatMap((location) => skus.map((sku) => `${sku},${location},1`))
    writeFileSync(adjustments, ["sku,location,delta", ...good, "IMP-0,default,-1"].join("\n"))
    const historyBefore = JSON.parse(
      (await inv([...operator, "--json", "stock", "history", "IMP-29"])).stdout
    )
    const aborted = await inv([...operator, "--json", "import", adjustments, "--on-error", "abort"])
    expect(aborted.code, aborted.stderr).toBe(8)
    expect(JSON.parse(aborted.stdout)).toMatchObject({ status: "aborted", applied: 0, rejected: 1 })
    expect(aborted.stderr).toContain('"line":1022')
    expect(aborted.stderr).toContain("insufficient-stock")
    const historyAfter = JSON.parse((await inv([...operator, "--json", "stock", "history", "IMP-29"])).stdout)
    expect(historyAfter.items).toHaveLength(historyBefore.items.length)

    // --dry-run over the server: the store's answer to every batch, nothing written.
    const dryRun = await inv([
      ...operator,
      "--json",
      "import",
      adjustments,
      "--dry-run",
      "--import-id",
      "dry"
    ])
    expect(dryRun.code).toBe(8)
    expect(JSON.parse(dryRun.stdout)).toMatchObject({
      status: "dry-run",
      applied: 1020,
      rejected: 1,
      changes: { changedLevels: 1020, totalDelta: 1020 }
    })
    const historyDry = JSON.parse((await inv([...operator, "--json", "stock", "history", "IMP-29"])).stdout)
    expect(historyDry.items).toHaveLength(historyBefore.items.length)

    // The export over the server: every level, one CSV row each, in the columns the import reads.
    const exported = await inv([...operator, "export", "stock"])
    expect(exported.code, exported.stderr).toBe(0)
    const exportedRows = exported.stdout.trim().split("\n")
    expect(exportedRows[0]).toMatch(/^sku,location,quantity/)
    expect(exportedRows.filter((row) => row.startsWith("IMP-29,bin-83,29,"))).toHaveLength(1)
    expect(exportedRows).toHaveLength(1 + 1 + 84 * 30)
  }, 90_000)
})
