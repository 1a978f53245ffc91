import {
  CODE_RULE,
  DELTA_TEXT_RULE,
  LIMIT_RULE,
  QUANTITY_RULE,
  QUANTITY_TEXT_RULE,
  REASON_RULE,
  SPACES_RULE,
  TEXT_RULE
} from "@invkit/sdk/rules"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { copyOfTemplateStore, type Store } from "./store.js"

let store: Store

beforeAll(async () => {
  store = await copyOfTemplateStore()
  await store.json("product", "add", "G-1", "--name", "Gear")
})

afterAll(() => store?.close())

/** Every case here must leave the store as it was: one product, no stock, no movement. */
const expectNothingWritten = async () => {
  expect((await store.json("stock", "history", "G-1")).items).toEqual([])
  expect(await store.json("stock", "overview")).toMatchObject({ products: 1, units: 0, movements: 0 })
}

describe("bad input through inv", () => {
  it.each([
    [["product", "add", "bad sku", "--name", "Bad"], `<sku>: ${CODE_RULE}`],
    [["stock", "set", "G-1", "1.5"], `<quantity>: ${QUANTITY_TEXT_RULE}`],
    [["stock", "set", "G-1", "1e3"], `<quantity>: ${QUANTITY_TEXT_RULE}`],
    [["stock", "set", "G-1", "+5"], `<quantity>: ${QUANTITY_TEXT_RULE}`],
    [["stock", "set", "G-1", "5.0"], `<quantity>: ${QUANTITY_TEXT_RULE}`],
    [["stock", "set", "G-1", " 5"], `<quantity>: ${QUANTITY_TEXT_RULE}`],
    [["stock", "set", "G-1", "0x10"], `<quantity>: ${QUANTITY_TEXT_RULE}`],
    [["stock", "set", "G-1", "--", "-0"], `<quantity>: ${QUANTITY_TEXT_RULE}`],
    [["stock", "set", "G-1", "2000000000"], `<quantity>: ${QUANTITY_RULE}`],
    [["stock", "set", "G-1", "abc"], `<quantity>: ${QUANTITY_TEXT_RULE}`],
    [["stock", "set", "G-1", "5", "--expected", "4.0"], `--expected: ${QUANTITY_TEXT_RULE}`],
    [["stock", "adjust", "G-1", "12x"], `<delta>: ${DELTA_TEXT_RULE}`],
    [["stock", "adjust", "G-1", "+5"], `<delta>: ${DELTA_TEXT_RULE}`],
    [["stock", "adjust", "G-1", "--", "-0"], `<delta>: ${DELTA_TEXT_RULE}`],
    [["stock", "adjust", "G-1", "1e3"], `<delta>: ${DELTA_TEXT_RULE}`],
    // Worded so that it cannot read as "you gave 0".
    [
      ["stock", "adjust", "G-1", "5000000000"],
      "<delta>: must be a whole number from -1000000000 to 1000000000 other than 0"
    ],
    [
      ["stock", "adjust", "G-1", "0"],
      "<delta>: must be a whole number from -1000000000 to 1000000000 other than 0"
    ],
    [["stock", "adjust", "G-1", "5", "--reason", "stolen"], `--reason: ${REASON_RULE}`],
    [["stock", "adjust", "G-1", "5", "--reference", "PO-1\u001b[2J"], `--reference: ${TEXT_RULE}`],
    [["stock", "adjust", "G-1", "5", "--idempotency-key", ""], "--idempotency-key: must not be empty"],
    [["stock", "transfer", "G-1", "1", "--to", "back room"], `--to: ${CODE_RULE}`],
    [["stock", "list", "--limit", "1e3"], `--limit: ${QUANTITY_TEXT_RULE}`],
    [["product", "list", "--limit", "1001"], `--limit: ${LIMIT_RULE}`],
    [["stock", "low", "--all", "--cursor", "WyJBIl0"], "pass either --cursor or --all, not both"],
    [["stock", "history", "G-1", "--until", "yesterday"], "--until:"],
    [["product", "add", "G-2", "--name", "Red \u001b[31mgear"], `--name: ${TEXT_RULE}`],
    [
      ["product", "add", "G-2", "--name", "Gear", "--reorder-point", "1.5"],
      `--reorder-point: ${QUANTITY_TEXT_RULE}`
    ],
    [
      ["product", "update", "G-1", "--reorder-quantity", "2000000000"],
      `--reorder-quantity: ${QUANTITY_RULE}`
    ],
    [["location", "add", "SHELF-1", "--name", "Shelf\t1"], `--name: ${TEXT_RULE}`],
    [["product", "add", "G-2", "--name", " Gear"], `--name: ${SPACES_RULE}`],
    [["product", "update", "G-1", "--unit", "box "], `--unit: ${SPACES_RULE}`],
    // Rules that name other fields name them as flags too.
    [
      ["product", "update", "G-1"],
      "give at least one of --name, --unit, --reorder-point, --reorder-quantity, --max-level, --preferred-supplier, --allow-backorders, --active"
    ],
    [
      ["stock", "transfer", "G-1", "1", "--from", "default", "--to", "default"],
      "--to: must be another location than the one it moves from"
    ],
    [
      [
        "reservation",
        "add",
        "G-1",
        "1",
        "--for",
        "C-1",
        "--expires-in",
        "1h",
        "--expires-at",
        "2030-01-01T00:00:00Z"
      ],
      "--expires-at: give --expires-in or --expires-at, not both"
    ],
    // Commander kept the last: a safety check given once could be undone by a second.
    [
      ["stock", "set", "G-1", "5", "--expected", "2", "--expected", "0"],
      "--expected is given twice; give it once"
    ],
    [
      ["stock", "adjust", "G-1", "5", "--reason", "sale", "--reason=count"],
      "--reason is given twice; give it once"
    ]
  ])("inv %j: exit 2 with the flag or argument and the rule", async (args, message) => {
    const { code, stdout, stderr } = await store.inv(...args)
    expect(stderr).toContain(`error: ${message}`)
    expect(code).toBe(2)
    expect(stdout).toBe("")
  })

  it("names an unknown product or location (exit 3)", async () => {
    const product = await store.inv("stock", "set", "NOPE-1", "5")
    expect(product.code).toBe(3)
    expect(product.stderr).toContain('error: No product with SKU "NOPE-1". Add it first')

    const location = await store.inv("stock", "adjust", "G-1", "5", "--location", "NOWHERE")
    expect(location.code).toBe(3)
    expect(location.stderr).toContain('error: No location "NOWHERE". Add it first')

    // A read filtered by a location that does not exist is a typo, not an empty warehouse.
    const read = await store.inv("stock", "low", "--location", "NOWHERE")
    expect(read.code).toBe(3)
  })

  it("with --json, puts the error on stderr as one JSON object and nothing on stdout", async () => {
    const { code, stdout, stderr } = await store.inv("--json", "stock", "set", "NOPE-1", "5")
    expect(code).toBe(3)
    expect(stdout).toBe("")
    expect(JSON.parse(stderr)).toEqual({
      error: { code: "ProductNotFound", message: expect.stringContaining("NOPE-1"), sku: "NOPE-1" }
    })

    const invalid = await store.inv("--json", "stock", "set", "G-1", "1.5")
    expect(JSON.parse(invalid.stderr)).toEqual({
      error: expect.objectContaining({
        code: "InvalidInput",
        field: "<quantity>",
        rule: `${QUANTITY_TEXT_RULE}, not "1.5"`
      })
    })
    // A field the SDK names (reorderPoint) comes back as the flag that was typed.
    const flag = await store.inv("--json", "product", "update", "G-1", "--reorder-point", "2000000000")
    expect(JSON.parse(flag.stderr)).toEqual({
      error: {
        code: "InvalidInput",
        message: `--reorder-point: ${QUANTITY_RULE}`,
        field: "--reorder-point",
        rule: QUANTITY_RULE
      }
    })
  })

  it("without a terminal, names a missing argument or option instead of asking (exit 2)", async () => {
    const quantity = await store.inv("stock", "set", "G-1")
    expect(quantity.code).toBe(2)
    expect(quantity.stderr).toContain("error: missing <quantity>; pass it as the second argument")

    const to = await store.inv("stock", "transfer", "G-1", "1")
    expect(to.code).toBe(2)
    expect(to.stderr).toContain("error: missing --to")

    const name = await store.inv("product", "add", "G-3")
    expect(name.code).toBe(2)
    expect(name.stderr).toContain("error: missing --name")
  })

  it("rejects an unknown option as a usage error (exit 2)", async () => {
    const { code, stderr } = await store.inv("stock", "adjust", "G-1", "-3", "--bogus")
    expect(code).toBe(2)
    expect(stderr).toContain("unknown option '--bogus'")
  })

  it("wrote nothing for any of the above", async () => {
    await expectNothingWritten()
    expect((await store.json("product", "list", "--all")).items.map((p: any) => p.sku)).toEqual(["G-1"])
  })
})
