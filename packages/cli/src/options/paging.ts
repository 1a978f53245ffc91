import type { Page } from "@invkit/sdk"
import type { Command } from "commander"
import { UsageError } from "../usageError.js"

/** `--limit`, `--cursor`, `--all`: every paged list takes them. */
export const withPagingOptions = (command: Command, rows = "rows"): Command =>
  command
    .option("--limit <n>", `${rows} per page (1-1000)`, "50")
    .option("--cursor <cursor>", "the next page, as printed by the previous one")
    .option("--all", "every page")

export interface PagingOptions {
  readonly limit?: string
  readonly cursor?: string
  readonly all?: boolean
}

/** One page (from --cursor), or with --all every page, fetched --limit rows at a time. */
export const fetchListing = async <T>(
  options: PagingOptions,
  fetchPage: (cursor: string | undefined) => Promise<Page.Page<T>>
): Promise<Page.Page<T>> => {
  if (options.all && options.cursor !== undefined) {
    throw new UsageError("pass either --cursor or --all, not both")
  }
  if (!options.all) return fetchPage(options.cursor)
  const items: Array<T> = []
  let cursor: string | undefined
  do {
    const page = await fetchPage(cursor)
    items.push(...page.items)
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
  return { items, nextCursor: null }
}
