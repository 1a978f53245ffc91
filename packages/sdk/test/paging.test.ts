/**
 * `all()` on every face (Inventory, the store process's client, Remote) pages with `allItems`:
 * pages as large as a page may be, unless the caller sets `limit`.
 */
import { describe, expect, it } from "vitest"
import { allItems, type Page } from "../src/internal/paging.js"
import { MAX_LIMIT } from "../src/Rules.js"

interface Query {
  readonly limit?: number | undefined
  readonly text?: string | undefined
}

/** 2,500 numbered items, paged as the stores page them: a cursor after the last item of a page. */
const numbered = () => {
  const items = Array.from({ length: 2500 }, (_, i) => i)
  const asked: Array<{ readonly limit: number | undefined; readonly text: string | undefined }> = []
  const list = async (query: Query & { readonly cursor?: string | undefined }): Promise<Page<number>> => {
    asked.push({ limit: query.limit, text: query.text })
    const from = query.cursor === undefined ? 0 : Number(query.cursor) + 1
    const limit = query.limit ?? 50
    const page = items.slice(from, from + limit)
    return { items: page, nextCursor: from + limit < items.length ? String(page.at(-1)) : null }
  }
  return { items, asked, list }
}

const collect = async (iterable: AsyncIterable<number>) => {
  const out: Array<number> = []
  for await (const item of iterable) out.push(item)
  return out
}

describe("allItems", () => {
  it("fetches pages of the largest size a page may have when the query sets no limit", async () => {
    const { items, asked, list } = numbered()
    expect(await collect(allItems<number, Query>(list, { text: "x" }))).toEqual(items)
    expect(asked).toEqual([1, 2, 3].map(() => ({ limit: MAX_LIMIT, text: "x" })))
  })

  it("keeps the limit the query sets", async () => {
    const { items, asked, list } = numbered()
    expect(await collect(allItems<number, Query>(list, { limit: 1000 / 4 }))).toEqual(items)
    expect(asked.length).toBe(10)
    expect(new Set(asked.map((query) => query.limit))).toEqual(new Set([250]))
  })
})
