import type { Page } from "@invkit/sdk"
import type { PageRequest, Paging } from "../options/paging.js"
import { note, printJson, printLine, printText, stdoutGone, stdoutWritten } from "./output.js"
import { type Columns, tableInPages } from "./table.js"

/** A list: the page as JSON, or a table with a hint on stderr when there is more. */
export const printListing = <T>(
  page: Page.Page<T>,
  json: boolean | undefined,
  table: Columns<T>,
  whenEmpty: string
): void => {
  if (json) {
    printJson(page)
    return
  }
  if (page.items.length === 0) note(whenEmpty)
  else printLine(table(page.items))
  if (page.nextCursor !== null) {
    note(`More: pass --cursor ${page.nextCursor} for the next page, or --all for everything.`)
  }
}

/** An item of a page inside `{ "items": [...] }`, indented as `printJson` indents it there. */
const itemJson = (item: unknown) => `    ${JSON.stringify(item, null, 2).replaceAll("\n", "\n    ")}`

/**
 * One page (from --cursor), or with --all every page, each printed as it comes: a listing of any
 * length takes the memory of about one page, its first rows show at once, and once stdout's
 * reader has gone (`| head`) no further page is asked for. The JSON is the one `printJson` writes
 * for the whole listing (`{ "items": [...], "nextCursor": null }`); the table prints its header
 * once and widens a column from the page with a wider cell on. A failure on a later page leaves
 * the pages before it printed.
 */
export const showListing = async <T>(
  paging: Paging,
  fetchPage: (request: PageRequest) => Promise<Page.Page<T>>,
  json: boolean | undefined,
  table: Columns<T>,
  whenEmpty: string
): Promise<void> => {
  const { limit } = paging
  if (!paging.all) {
    printListing(await fetchPage({ limit, cursor: paging.cursor }), json, table, whenEmpty)
    return
  }
  const rows = tableInPages(table)
  let printed = 0
  let cursor: string | undefined
  do {
    const page = await fetchPage({ limit, cursor })
    if (page.items.length > 0) {
      if (json) {
        printText(`${printed === 0 ? '{\n  "items": [\n' : ",\n"}${page.items.map(itemJson).join(",\n")}`)
      } else printLine(rows(page.items))
    }
    printed += page.items.length
    cursor = page.nextCursor ?? undefined
    await stdoutWritten()
  } while (cursor !== undefined && !stdoutGone())
  if (json)
    printLine(
      printed === 0 ? '{\n  "items": [],\n  "nextCursor": null\n}' : '\n  ],\n  "nextCursor": null\n}'
    )
  else if (printed === 0) note(whenEmpty)
}
