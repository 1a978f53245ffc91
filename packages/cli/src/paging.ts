import type { Page } from "@invkit/sdk"
import { UsageError } from "./usageError.js"

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
