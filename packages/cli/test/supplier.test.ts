import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { copyOfTemplateStore, type Store, target } from "./store.js"
import { acmeKey, boltKey, type SupplierFeeds, startSupplierFeeds } from "./supplierFeeds.js"

let store: Store
let feeds: SupplierFeeds

beforeAll(async () => {
  store = await copyOfTemplateStore()
  feeds = await startSupplierFeeds()
})

afterAll(async () => {
  await feeds?.close()
  await store?.close()
})

/** `inv supplier sync` runs the sync in the CLI's own process: a server answers NotAvailableRemotely. */
const localSyncOnly = target === "server"

const acmeFlags = () => [
  "--name",
  "Acme",
  "--url",
  `${feeds.baseUrl}/acme/catalog`,
  "--items-path",
  "products",
  "--map",
  "supplierSku=id",
  "--map",
  "name=name",
  "--map",
  "availability=inventory",
  "--map",
  "unitCost=price",
  "--api-key-header",
  "X-API-Key"
]

// The steps build on each other, in order: add, sync, list, fail, remove.
describe("inv supplier", () => {
  it("adds suppliers of both JSON shapes and a CSV feed by flags; the key shows only as ***", async () => {
    // The key from the environment, so it need not be on the command line.
    const acme = await store.invWith(
      { ACME_KEY: acmeKey },
      "--json",
      "supplier",
      "add",
      "acme",
      ...acmeFlags(),
      "--api-key-env",
      "ACME_KEY"
    )
    expect(acme.code).toBe(0)
    expect(JSON.parse(acme.stdout).connector).toMatchObject({
      type: "http-json",
      itemsPath: "products",
      apiKey: { in: "header", name: "X-API-Key", value: "***" }
    })

    const bolt = await store.json(
      "supplier",
      "add",
      "bolt",
      "--name",
      "Bolt & Co",
      "--url",
      `${feeds.baseUrl}/bolt/feed`,
      "--items-path",
      "items",
      "--map",
      "supplierSku=product_id",
      "--map",
      "name=product_name",
      "--map",
      "availability=stock_count",
      "--map",
      "unitCost=wholesale_price",
      "--api-key-query",
      "api_key",
      "--api-key",
      boltKey,
      "--schedule",
      "0 */6 * * *"
    )
    await store.json(
      "supplier",
      "add",
      "csvco",
      "--name",
      "CSV Co",
      "--csv",
      `${feeds.baseUrl}/csvco/catalog.csv`,
      "--map",
      "supplierSku=sku",
      "--map",
      "name=title",
      "--map",
      "packSize=pack"
    )

    const shown = await store.inv("supplier", "get", "acme")
    expect(shown.code).toBe(0)
    expect(shown.stdout).toMatch(/API key:\s+header X-API-Key: \*\*\*/)
    expect(shown.stdout).toContain("supplierSku=id, name=name, availability=inventory, unitCost=price")
    expect(shown.stdout).not.toContain(acmeKey)
    expect(bolt).toMatchObject({
      schedule: "0 */6 * * *",
      connector: { apiKey: { in: "query", name: "api_key", value: "***" } }
    })
  })

  // Needs a local store: `inv supplier sync` runs the sync in the CLI's process.
  it.skipIf(localSyncOnly)(
    "syncs a catalog: first everything is added, then a second sync finds it all unchanged",
    async () => {
      const first = await store.inv("supplier", "sync", "acme")
      expect(first.code).toBe(0)
      expect(first.stdout).toMatch(/status:\s+succeeded/)
      expect(first.stdout).toMatch(/added:\s+3/)
      expect(first.stderr).toContain("Synced acme.")

      const second = await store.json("supplier", "sync", "acme")
      expect(second).toMatchObject({ status: "succeeded", added: 0, updated: 0, unchanged: 3, rejected: 0 })
    }
  )

  // Needs a local store: `inv supplier sync` runs the sync in the CLI's process.
  it.skipIf(localSyncOnly)(
    "skips a bad item: the run is partial and the rejection is printed with its position",
    async () => {
      const { code, stdout } = await store.inv("supplier", "sync", "bolt")
      expect(code).toBe(0)
      expect(stdout).toMatch(/status:\s+partial/)
      expect(stdout).toMatch(/added:\s+2/)
      expect(stdout).toMatch(/rejected:\s+1/)
      expect(stdout).toMatch(/^2\s+B-11\s+stock_count\s+must be a whole number of at least 0, got "plenty"$/m)

      expect(await store.json("supplier", "sync", "csvco")).toMatchObject({ status: "succeeded", added: 2 })
    }
  )

  // The same syncs as the two steps above, run by the server's workers: the steps below build on them.
  it.runIf(localSyncOnly)("syncs through the server's queue: the same runs as a local sync", async () => {
    expect(await store.syncSupplier("acme")).toMatchObject({ status: "succeeded", added: 3 })
    expect(await store.syncSupplier("acme")).toMatchObject({
      status: "succeeded",
      added: 0,
      updated: 0,
      unchanged: 3,
      rejected: 0
    })
    const bolt = await store.syncSupplier("bolt")
    expect(bolt).toMatchObject({ status: "partial", added: 2, rejected: 1 })
    expect(bolt.rejections).toEqual([
      {
        position: 2,
        supplierSku: "B-11",
        field: "stock_count",
        message: 'must be a whole number of at least 0, got "plenty"'
      }
    ])
    expect(await store.syncSupplier("csvco")).toMatchObject({ status: "succeeded", added: 2 })
  })

  it("lists suppliers, runs and items", async () => {
    const list = await store.inv("supplier", "list")
    expect(list.stdout.split("\n").map((line) => line.split(/\s+/)[0])).toEqual([
      "ID",
      "acme",
      "bolt",
      "csvco",
      ""
    ])
    expect(list.stdout).toContain("header X-API-Key: ***")

    const runs = await store.json("supplier", "runs", "acme", "--limit", "1")
    expect(runs.items).toEqual([expect.objectContaining({ trigger: "manual", unchanged: 3 })])
    expect(runs.nextCursor).toEqual(expect.any(String))

    // The rejected item was never saved; the others are, with the feed's values.
    const items = await store.json("supplier", "items", "bolt", "--active")
    expect(items.items.map((i: any) => [i.supplierSku, i.availability, i.unitCost])).toEqual([
      ["B-10", 500, 0.12],
      ["B-12", 80, 0.08]
    ])
    const csvItems = await store.inv("supplier", "items", "csvco")
    expect(csvItems.stdout).toMatch(/^W-100\s+Widget\s+1\s+6\s+active$/m)
  })

  it("adds a supplier with a key the feed will refuse", async () => {
    expect(
      await store.json("supplier", "add", "wrongkey", ...acmeFlags(), "--api-key", "not-the-key")
    ).toMatchObject({ id: "wrongkey", connector: { apiKey: { value: "***" } } })
  })

  // Needs a local store: `inv supplier sync` runs the sync in the CLI's process.
  it.skipIf(localSyncOnly)(
    "reports a refused API key as a failed sync (exit 6) that says what to check",
    async () => {
      const { code, stdout, stderr } = await store.inv("supplier", "sync", "wrongkey")
      expect(code).toBe(6)
      expect(stdout).toBe("")
      expect(stderr).toContain(
        'error: Sync of supplier "wrongkey" failed: the supplier answered 401: check the API key in the connector'
      )
    }
  )

  // Locally each sync runs in the CLI's process; on a server each is queued for its workers.
  it("syncs several suppliers named, or --all: a failure is shown, the others still sync, and it exits 6", async () => {
    const done = localSyncOnly ? "queued" : "(succeeded|partial)"
    const named = await store.inv("supplier", "sync", "acme", "nobody", "bolt")
    expect(named.code, named.stderr).toBe(6)
    expect(named.stdout).toMatch(new RegExp(`^acme\\s+${done}`, "m"))
    expect(named.stdout).toMatch(/^nobody\s+failed\s+.*SupplierNotFound: No supplier "nobody"/m)
    expect(named.stdout).toMatch(new RegExp(`^bolt\\s+${done}`, "m"))
    expect(named.stderr).toContain("1 of 3 supplier sync(s) failed: nobody")

    const all = await store.inv("supplier", "sync", "--all", "--json")
    const result = JSON.parse(all.stdout)
    expect(result.results.map((outcome: { supplierId: string }) => outcome.supplierId)).toEqual([
      "acme",
      "bolt",
      "csvco",
      "wrongkey"
    ])
    if (localSyncOnly) {
      expect(all.code).toBe(0)
      expect(result.failed).toBe(0)
    } else {
      // The refused key fails its own sync only.
      expect(all.code).toBe(6)
      expect(result.failed).toBe(1)
      expect(result.results[3]).toMatchObject({ outcome: "failed", error: "SyncFailed" })
      expect(result.results[0]).toMatchObject({ outcome: "synced", run: { status: "succeeded" } })
    }

    const both = await store.inv("supplier", "sync", "acme", "--all")
    expect(both.code).toBe(2)
    expect(both.stderr).toContain("name the suppliers to sync, or pass --all for every active one, not both")
  })

  it("removes a supplier only when confirmed: without a terminal that takes --yes", async () => {
    const unconfirmed = await store.inv("supplier", "remove", "wrongkey")
    expect(unconfirmed.code).toBe(2)
    expect(unconfirmed.stderr).toContain("--yes")

    expect(await store.json("supplier", "remove", "wrongkey", "--yes")).toEqual({
      supplierId: "wrongkey",
      removed: true
    })
  })

  it.each([
    [
      ["supplier", "add", "Bad Id", ...["--name", "X", "--csv", "f.csv", "--map", "supplierSku=a"]],
      "error: <id>: "
    ],
    [
      [
        "supplier",
        "add",
        "cron",
        ...["--name", "X", "--csv", "f.csv", "--map", "supplierSku=a", "--schedule", "nope"]
      ],
      "error: --schedule: must be a cron expression"
    ],
    [
      ["supplier", "add", "ftp", ...["--name", "X", "--url", "ftp://127.0.0.1/x", "--map", "supplierSku=a"]],
      // The SDK's connector.url, named by the flag that was typed.
      "error: --url: must be an http:// or https:// URL"
    ],
    [
      ["supplier", "add", "esc", ...["--name", "Esc\u001b[1m", "--csv", "f.csv", "--map", "supplierSku=a"]],
      "error: --name: must not contain control characters"
    ]
  ])("refuses bad input naming the flag or argument (exit 2): inv %j", async (args, message) => {
    const { code, stdout, stderr } = await store.inv(...args)
    expect(stderr).toContain(message)
    expect(code).toBe(2)
    expect(stdout).toBe("")
  })

  it("without a terminal, names what is missing instead of asking (exit 2)", async () => {
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["supplier", "add"], "error: missing <id>"],
      [["supplier", "add", "x", "--url", "http://127.0.0.1/x"], "error: missing --name"],
      [["supplier", "add", "x", "--name", "X"], "error: missing --url <url> (an HTTP JSON feed) or --csv"],
      [["supplier", "add", "x", "--name", "X", "--csv", "f.csv"], "error: missing --map supplierSku=<field>"],
      [
        ["supplier", "add", "x", "--name", "X", "--csv", "f.csv", "--map", "colour=c"],
        '--map: unknown field "colour"'
      ],
      [["supplier", "sync"], "error: missing <id>"],
      [["restock", "receive"], "error: missing <id>"]
    ]
    const runs = await Promise.all(cases.map(([args]) => store.inv(...args)))
    runs.forEach((run, index) => {
      expect(run.stderr).toContain(cases[index]?.[1])
      expect(run.code).toBe(2)
    })
  })

  it("kept every supplier but the removed one, and wrote none for bad input", async () => {
    const list = await store.json("supplier", "list")
    expect(list.items.map((s: any) => s.id)).toEqual(["acme", "bolt", "csvco"])
  })
})
