import { DEFAULT_LIMIT, MAX_LIMIT } from "@invkit/sdk/rules"
import type { Command } from "commander"
import { optionalNumberArgument } from "../numberArgument.js"
import { UsageError } from "../usageError.js"

/** `--limit`, `--cursor`, `--all`: every paged list takes them. */
export const withPagingOptions = (command: Command, rows = "rows"): Command =>
  command
    .option(
      "--limit <n>",
      `${rows} per page (1-${MAX_LIMIT}; default ${DEFAULT_LIMIT}, with --all ${MAX_LIMIT})`
    )
    .option("--cursor <cursor>", "the next page, as printed by the previous one")
    .option("--all", "every page")

export interface PagingOptions {
  readonly limit?: string
  readonly cursor?: string
  readonly all?: boolean
}

/** The paging flags as checked values; the limit's range is the SDK's rule, checked there. */
export interface Paging {
  readonly limit: number | undefined
  readonly cursor: string | undefined
  readonly all: boolean
}

/** What one page is asked with: a list's `limit` and `cursor`. */
export interface PageRequest {
  readonly limit: number | undefined
  readonly cursor: string | undefined
}

/**
 * The paging flags checked before the store is opened, so a bad one changes and opens nothing.
 * Without --limit a page is the SDK's default, and with --all as large as a page may be: every
 * page is a query, and 100,000 levels took 24 s in pages of 50.
 */
export const pagingOf = (options: PagingOptions): Paging => {
  if (options.all && options.cursor !== undefined) {
    throw new UsageError("pass either --cursor or --all, not both")
  }
  const all = Boolean(options.all)
  return {
    limit: optionalNumberArgument(options.limit, "limit") ?? (all ? MAX_LIMIT : undefined),
    cursor: options.cursor,
    all
  }
}
