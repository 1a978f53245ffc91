import { EXPIRES_IN_RULE } from "@invkit/sdk/rules"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { copyOfTemplateStore, expectedActor, type Store } from "./store.js"

let store: Store

beforeAll(async () => {
  store = await copyOfTemplateStore()
  await store.json("product", "add", "HOLD-1", "--name", "Held widget")
  await store.json("product", "add", "BACK-1", "--name", "Pre-order", "--allow-backorders")
  await store.json("stock", "set", "HOLD-1", "10")
  await store.json("stock", "set", "BACK-1", "3")
}, 300_000)

afterAll(() => store?.close())

const levelOf = async (sku: string) => store.json("stock", "get", sku)

// The steps build on each other, in order. Each runs several `inv` processes: generous on a
// loaded machine, where one process opening the embedded store can take seconds.
describe("inv reservation", { timeout: 300_000 }, () => {
  let first = 0

  it("add holds units: reserved rises, available falls; the table and --json agree", async () => {
    const hold = await store.json(
      "reservation",
      "add",
      "HOLD-1",
      "4",
      "--for",
      "CART-1",
      "--expires-in",
      "15m",
      "--actor",
      "ann"
    )
    expect(hold).toMatchObject({
      sku: "HOLD-1",
      quantity: 4,
      reference: "CART-1",
      status: "active",
      actor: expectedActor("ann")
    })
    expect(new Date(hold.expiresAt).getTime() - Date.now()).toBeGreaterThan(14 * 60_000)
    first = hold.id
    expect(await levelOf("HOLD-1")).toMatchObject({ onHand: 10, reserved: 4, available: 6 })
    const table = await store.inv("reservation", "list")
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^ID +SKU +LOCATION +QUANTITY +FULFILLED +FOR +STATUS/m)
    expect(table.stdout).toContain("CART-1")
    const shown = await store.inv("reservation", "get", String(first))
    expect(shown.stdout).toMatch(/held: +4/)
  })

  it("a hold that does not fit exits 4 with the available figure, and changes nothing", async () => {
    const refused = await store.inv("reservation", "add", "HOLD-1", "7", "--for", "CART-2")
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain("6 available, 7 requested")
    const json = await store.inv("--json", "reservation", "add", "HOLD-1", "7", "--for", "CART-2")
    expect(json.code).toBe(4)
    expect(JSON.parse(json.stderr).error).toMatchObject({
      code: "InsufficientStock",
      available: 6,
      requested: 7
    })
    expect((await store.json("reservation", "list", "--for", "CART-2")).items).toEqual([])
    expect(await levelOf("HOLD-1")).toMatchObject({ reserved: 4, available: 6 })
  })

  it("bad input exits 2 naming the flag, before anything changes", async () => {
    const cases: Array<[ReadonlyArray<string>, string]> = [
      [
        ["reservation", "add", "HOLD-1", "1", "--for", "C", "--expires-in", "soon"],
        `--expires-in: ${EXPIRES_IN_RULE}`
      ],
      [["reservation", "add", "HOLD-1", "1", "--for", "C", "--expires-in", "0s"], "--expires-in"],
      [["reservation", "add", "HOLD-1", "1", "--for", "C", "--expires-at", "yesterday-ish"], "--expires-at"],
      [
        ["reservation", "add", "HOLD-1", "1", "--for", "C", "--expires-at", "2001-01-01T00:00:00Z"],
        "--expires-at: must be in the future"
      ],
      [
        ["reservation", "add", "HOLD-1", "0", "--for", "C"],
        "<quantity>: must be a whole number from 1 to 1000000000"
      ],
      [["reservation", "add", "HOLD-1", "-3", "--for", "C"], "<quantity>"],
      [["reservation", "add", "HOLD-1", "99999999999", "--for", "C"], "<quantity>"],
      [["reservation", "add", "HOLD-1", "1", "--for", ""], "--for: must not be empty"],
      [["reservation", "add", "HOLD-1", "1"], "--for"],
      [["reservation", "fulfil", String(first), "--quantity", "two"], "--quantity"],
      [["reservation", "list", "--status", "pending"], "--status"],
      [["reservation", "get", "abc"], "<id>"]
    ]
    for (const [args, message] of cases) {
      const run = await store.inv(...args)
      expect(run.code, args.join(" ")).toBe(2)
      expect(run.stderr, args.join(" ")).toContain(message)
    }
    expect((await store.json("reservation", "list")).items).toHaveLength(1)
  })

  it("unknown SKU, location or reservation exit 3", async () => {
    expect((await store.inv("reservation", "add", "NOPE-1", "1", "--for", "C")).code).toBe(3)
    expect(
      (await store.inv("reservation", "add", "HOLD-1", "1", "--for", "C", "--location", "nowhere")).code
    ).toBe(3)
    const unknown = await store.inv("reservation", "release", "424242")
    expect(unknown.code).toBe(3)
    expect(unknown.stderr).toContain("inv reservation list")
  })

  it("a sale eating into held units exits 4 naming the reserved figure; --release-holds makes room", async () => {
    const refused = await store.inv("stock", "adjust", "HOLD-1", "-8", "--reason", "sale")
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain("4 more on hand are held by reservations")
    expect(refused.stderr).toContain("--release-holds")
    const second = await store.json("reservation", "add", "HOLD-1", "2", "--for", "CART-3")
    const sold = await store.json("stock", "adjust", "HOLD-1", "-5", "--reason", "sale", "--release-holds")
    expect(sold.onHand).toBe(5)
    // 5 on hand: 6 held must come down; the newest (CART-3) goes first, and that is enough.
    expect((await store.json("reservation", "get", String(second.id))).status).toBe("released")
    expect((await store.json("reservation", "get", String(first))).status).toBe("active")
    // A product that allows backorders sells past its holds.
    await store.json("reservation", "add", "BACK-1", "3", "--for", "PRE-1")
    expect((await store.json("stock", "adjust", "BACK-1", "-2", "--reason", "sale")).onHand).toBe(1)
    expect((await store.json("product", "get", "BACK-1")).allowBackorders).toBe(true)
    expect((await store.json("product", "update", "BACK-1", "--no-allow-backorders")).allowBackorders).toBe(
      false
    )
  })

  it("update, fulfil (keyed, partial), then release after fulfil exits 5", async () => {
    expect(
      await store.json("reservation", "update", String(first), "--quantity", "3", "--no-expiry")
    ).toMatchObject({
      quantity: 3,
      expiresAt: null
    })
    const partly = await store.json(
      "reservation",
      "fulfil",
      String(first),
      "--quantity",
      "1",
      "--idempotency-key",
      "ship-1"
    )
    expect(partly).toMatchObject({ quantity: 2, fulfilled: 1, status: "active" })
    const again = await store.json(
      "reservation",
      "fulfil",
      String(first),
      "--quantity",
      "1",
      "--idempotency-key",
      "ship-1"
    )
    expect(again).toEqual(partly)
    expect(await levelOf("HOLD-1")).toMatchObject({ onHand: 4, reserved: 2 })
    const done = await store.json("reservation", "fulfil", String(first))
    expect(done).toMatchObject({ status: "fulfilled", fulfilled: 3 })
    const history = await store.json("stock", "history", "HOLD-1", "--limit", "2")
    expect(history.items.map((m: any) => [m.reason, m.delta, m.reference])).toEqual([
      ["sale", -2, `reservation:${first}`],
      ["sale", -1, `reservation:${first}`]
    ])
    const closed = await store.inv("reservation", "release", String(first))
    expect(closed.code).toBe(5)
    expect(closed.stderr).toContain("fulfilled")
  })
})
