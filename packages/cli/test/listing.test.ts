/**
 * A listing with --all, printed a page at a time as the pages come: the same JSON as the whole
 * listing printed at once, one table header, and no page asked for once stdout's reader has gone.
 * The pages come from a function, as the SDK's `list` gives them; stdout is captured.
 */
import type { Page } from "@invkit/sdk"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import type { PageRequest } from "../src/options/paging.js"
import { pagingOf } from "../src/options/paging.js"
import { showListing } from "../src/ui/listing.js"
import { columns } from "../src/ui/table.js"

interface Item {
  readonly sku: string
  readonly name: string
  readonly onHand: number
}

const items = (from: number, count: number, name = (i: number) => `Item ${i}`): Array<Item> =>
  Array.from({ length: count }, (_, k) => ({
    sku: `SKU-${from + k}`,
    name: name(from + k),
    onHand: from + k
  }))

const table = columns<Item>(["SKU", "name", "on hand"], (i) => [i.sku, i.name, i.onHand])

/** The pages in order, each asked for by the cursor the one before gave; records every request. */
const pagesOf = (
  pages: ReadonlyArray<ReadonlyArray<Item>>,
  onRequest: (index: number) => void = () => {}
) => {
  const requests: Array<PageRequest> = []
  const fetchPage = async (request: PageRequest): Promise<Page.Page<Item>> => {
    const index = request.cursor === undefined ? 0 : Number(request.cursor)
    requests.push(request)
    onRequest(index)
    return { items: [...pages[index]!], nextCursor: index + 1 < pages.length ? String(index + 1) : null }
  }
  return { fetchPage, requests }
}

let out = ""
beforeEach(() => {
  out = ""
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
    out += String(chunk)
    return true
  })
  vi.spyOn(process.stderr, "write").mockImplementation(() => true)
})
afterEach(() => vi.restoreAllMocks())

describe("a listing with --all", () => {
  it("prints the JSON the whole listing printed at once would be, pages or none", async () => {
    const pages = [items(0, 3), items(3, 3), items(6, 2)]
    const { fetchPage, requests } = pagesOf(pages)
    await showListing(pagingOf({ all: true }), fetchPage, true, table, "none")
    expect(out).toBe(`${JSON.stringify({ items: pages.flat(), nextCursor: null }, null, 2)}\n`)
    expect(requests.map((request) => request.limit)).toEqual([1000, 1000, 1000])

    out = ""
    await showListing(pagingOf({ all: true }), pagesOf([[]]).fetchPage, true, table, "none")
    expect(out).toBe(`${JSON.stringify({ items: [], nextCursor: null }, null, 2)}\n`)
  })

  it("prints each page before it asks for the next", async () => {
    const seen: Array<string> = []
    const { fetchPage } = pagesOf([items(0, 2), items(2, 2), items(4, 2)], () => seen.push(out))
    await showListing(pagingOf({ all: true, limit: "2" }), fetchPage, false, table, "none")
    expect(seen[1]).toContain("SKU-1 ")
    expect(seen[2]).toContain("SKU-3 ")
    expect(seen[2]).not.toContain("SKU-4")
  })

  it("prints the table's header once, and widens a column from the page with a wider cell", async () => {
    const wide = (i: number) => (i === 3 ? "A much longer name" : `Item ${i}`)
    const { fetchPage } = pagesOf([items(0, 2, wide), items(2, 2, wide)])
    await showListing(pagingOf({ all: true }), fetchPage, false, table, "none")
    expect(out.split("\n")).toEqual([
      "SKU    NAME    ON HAND",
      "SKU-0  Item 0  0",
      "SKU-1  Item 1  1",
      "SKU-2  Item 2              2",
      "SKU-3  A much longer name  3",
      ""
    ])
  })

  it("says on stderr that there is nothing, and prints nothing on stdout, when the list is empty", async () => {
    const notes = vi.spyOn(process.stderr, "write").mockImplementation(() => true)
    await showListing(pagingOf({ all: true }), pagesOf([[]]).fetchPage, false, table, "No items.")
    expect(out).toBe("")
    expect(notes).toHaveBeenCalledWith("No items.\n")
  })

  // Last: stdout's failure stays recorded for the rest of this file's tests.
  it("asks for no further page once stdout's reader has gone", async () => {
    vi.mocked(process.stdout.write).mockImplementation(() => {
      throw Object.assign(new Error("write EPIPE"), { code: "EPIPE" })
    })
    const { fetchPage, requests } = pagesOf([items(0, 2), items(2, 2), items(4, 2)])
    await showListing(pagingOf({ all: true }), fetchPage, false, table, "none")
    expect(requests).toHaveLength(1)
    process.exitCode = undefined
  })
})
