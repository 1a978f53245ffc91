/**
 * Reading a CSV import: lines without a quote are split by hand, the rest by csv-parse. A file
 * read either way, in chunks cut anywhere, gives the same rows, rejections and line numbers.
 */
import { Readable } from "node:stream"
import { describe, expect, it } from "vitest"
import { newProgress, QUOTED_FORMULA, type ReadEvent, readImport } from "../src/internal/importRows.js"

const read = async (text: string, chunkSize: number) => {
  const bytes = Buffer.from(text)
  const chunks: Array<Buffer> = []
  for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(bytes.subarray(at, at + chunkSize))
  const events: Array<ReadEvent> = []
  try {
    for await (const batch of readImport(Readable.from(chunks), {}, newProgress())) events.push(...batch)
  } catch (error) {
    return { events, error: String(error) }
  }
  return { events, error: undefined }
}

// The same rows after a header csv-parse must read (it quotes a name) and after a plain one.
const bothWays = async (body: string) => {
  const parsed = await read(`"sku",location,quantity\n${body}`, 1 << 20)
  for (const chunkSize of [1, 2, 3, 7, 64, 1 << 20]) {
    expect(await read(`\uFEFFsku,location,quantity\n${body}`, chunkSize)).toEqual(parsed)
  }
  return parsed
}

describe("reading CSV", () => {
  it("reads plain lines as csv-parse does: CRLF, CR, empty lines, a wrong column count, a bad value", async () => {
    const { events, error } = await bothWays(
      "P-1,default,5\r\n\r\nP-2,default,7,9\rP-3,default,x\n\n\nP-4,default,4\r\nP-5,déjà,3"
    )
    expect(error).toBeUndefined()
    const lines = events.flatMap((event) =>
      event.type === "row" ? [event.line] : event.type === "rejected" ? [event.rejection.line] : []
    )
    expect(lines).toEqual([2, 4, 5, 8, 9])
  })

  it("hands a quoted line and all after it to csv-parse, counting lines across the hand-over", async () => {
    const { events, error } = await bothWays(
      'P-1,default,5\n\nP-2,"def\r\nault",3\nP-3,default,4\r\nP-4,"default",6\n'
    )
    expect(error).toBeUndefined()
    const lines = events.flatMap((event) =>
      event.type === "row" ? [event.line] : event.type === "rejected" ? [event.rejection.line] : []
    )
    expect(lines).toEqual([2, 4, 6, 7])
  })

  it("names the same line for a quote never closed after plain lines", async () => {
    const { error } = await bothWays('P-1,default,5\n\nP-2,default,6\nP-3,"default,7\nP-4,default,8\n')
    expect(error).toMatch(/line 5/)
  })
})

describe("column names", () => {
  it("takes a column named like an object's own machinery (__proto__, constructor, toString) as any unknown column", async () => {
    for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      const { events, error } = await read(`${name},sku,quantity\nx,P-1,5\n`, 1 << 20)
      expect(error).toBeUndefined()
      expect(events[0]).toMatchObject({ type: "start", kind: "stock", ignoredColumns: [name] })
      expect(events[1]).toMatchObject({ type: "row", line: 2, row: { sku: "P-1", quantity: 5 } })
    }
    // Mapped to a field, it feeds that field.
    const mapped: Array<ReadEvent> = []
    const map = Object.fromEntries([["__proto__", "quantity"]])
    for await (const batch of readImport(Readable.from(["sku,__proto__\nP-1,7\n"]), { map }, newProgress()))
      mapped.push(...batch)
    expect(mapped[1]).toMatchObject({ type: "row", row: { sku: "P-1", quantity: 7 } })
  })
})

describe("handing rows on", () => {
  it("hands on a plain file's rows a chunk of its bytes at a time, not one by one", async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => `P-${i},default,${i % 10}`)
    const bytes = Buffer.from(`sku,location,quantity\n${rows.join("\n")}\n`)
    const chunks: Array<Buffer> = []
    for (let at = 0; at < bytes.length; at += 65_536) chunks.push(bytes.subarray(at, at + 65_536))
    let batches = 0
    let events = 0
    for await (const batch of readImport(Readable.from(chunks), {}, newProgress())) {
      batches += 1
      events += batch.length
    }
    expect(events).toBe(1 + rows.length)
    expect(batches).toBeLessThanOrEqual(chunks.length)
  })
})

describe("the plain path for stock rows", () => {
  // CSV stock rows are vouched for straight from their cells; NDJSON rows go the general way.
  // Both must take and refuse the same rows, the same way.
  const cells = {
    sku: ["P-1", "", "'P-1", "'=P-1", "p.1:a/b_c", "P 1", "x".repeat(64), "x".repeat(65), "Ö-1"],
    location: ["default", "", "'=x", "DOCK-2", "déjà", " default"],
    amount: [
      "5",
      "0",
      "05",
      "+5",
      " 5",
      "5 ",
      "1e3",
      "5.0",
      "-1",
      "-0",
      "",
      "abc",
      "1000000000",
      "1000000001",
      "'5"
    ]
  }
  const rows = cells.sku.flatMap((sku) =>
    cells.location.flatMap((location) => cells.amount.map((amount) => ({ sku, location, amount })))
  )
  const outcome = (event: ReadEvent) =>
    event.type === "row"
      ? { row: event.row }
      : event.type === "rejected"
        ? { code: event.rejection.code, column: event.rejection.column, message: event.rejection.message }
        : { start: event.type }
  const readAll = async (chunks: ReadonlyArray<string>) => {
    const events: Array<ReadEvent> = []
    for await (const batch of readImport(Readable.from(chunks), {}, newProgress())) events.push(...batch)
    return events.filter((event) => event.type !== "start").map(outcome)
  }

  for (const amountField of ["quantity", "delta"] as const) {
    for (const withLocation of [true, false]) {
      it(`gives what the general way gives: ${amountField}, ${withLocation ? "with" : "without"} a location column`, async () => {
        const header = withLocation ? `sku,location,${amountField}` : `sku,${amountField}`
        const csv = rows.map((r) =>
          withLocation ? `${r.sku},${r.location},${r.amount}` : `${r.sku},${r.amount}`
        )
        // What each CSV cell means: a quoted formula (`'=x`) is `=x`; JSON's text is taken as written.
        const meaning = (cell: string) => (QUOTED_FORMULA.test(cell) ? cell.slice(1) : cell)
        const ndjson = rows.map((r) =>
          JSON.stringify(
            withLocation
              ? { sku: meaning(r.sku), location: meaning(r.location), [amountField]: meaning(r.amount) }
              : { sku: meaning(r.sku), [amountField]: meaning(r.amount) }
          )
        )
        const fromCsv = await readAll([`${header}\n${csv.join("\n")}\n`])
        const fromNdjson = await readAll([`${ndjson.join("\n")}\n`])
        expect(fromCsv).toEqual(fromNdjson)
        // Both kinds of outcome are there to compare.
        expect(fromCsv.filter((o) => "row" in o).length).toBeGreaterThan(20)
        expect(fromCsv.filter((o) => "code" in o).length).toBeGreaterThan(20)
      })
    }
  }

  it("takes the last of two columns of one field, as the general way does", async () => {
    const events = await readAll(["sku,quantity,quantity\nP-1,x,4\nP-2,5,y\n"])
    expect(events).toEqual([
      { row: { sku: "P-1", location: "default", quantity: 4 } },
      expect.objectContaining({ code: "invalid-value", column: "quantity" })
    ])
  })
})
