import type { Page } from "@invkit/sdk"
import { note, printJson, printLine } from "./output.js"

/** A list: the page as JSON, or a table with a hint on stderr when there is more. */
export const printListing = <T>(
  page: Page.Page<T>,
  json: boolean | undefined,
  render: (items: ReadonlyArray<T>) => string,
  whenEmpty: string
): void => {
  if (json) {
    printJson(page)
    return
  }
  if (page.items.length === 0) note(whenEmpty)
  else printLine(render(page.items))
  if (page.nextCursor !== null) {
    note(`More: pass --cursor ${page.nextCursor} for the next page, or --all for everything.`)
  }
}
