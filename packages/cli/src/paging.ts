import { UsageError } from "./usageError.js"

/**
 * The SDK's page shape. Declared here because the SDK's bundled types drop the `Page.Page`
 * interface (only the schema constructor of the same name survives).
 */
export interface Listing<T> {
  readonly items: ReadonlyArray<T>
  readonly nextCursor: string | null
}

export interface PagingOptions {
  readonly limit?: string
  readonly cursor?: string
  readonly all?: boolean
}

/** One page (from --cursor), or with --all every page, fetched --limit rows at a time. */
export const fetchListing = async <T>(
  options: PagingOptions,
  fetchPage: (cursor: string | undefined) => Promise<Listing<T>>
): Promise<Listing<T>> => {
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
