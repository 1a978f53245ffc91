/** Paging without Effect, for the clients that must load fast (see StoreProcess.ts). */
import { MAX_LIMIT } from "../Rules.js"

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | null
}

/**
 * Every item of a paged list, fetching the next page as the previous one is used up. The pages
 * are as large as a page may be unless the query sets `limit`: each page is a query (and over a
 * server, a request), and 100,000 levels took 19 s in pages of 50 (the default of one `list`)
 * against 2.5 s in pages of 1,000 on the embedded store.
 */
export async function* allItems<T, Q extends { readonly limit?: number | undefined }>(
  fetch: (query: Q & { readonly cursor?: string | undefined }) => Promise<Page<T>>,
  query: Q
): AsyncIterable<T> {
  const pages = { ...query, limit: query.limit ?? MAX_LIMIT }
  let cursor: string | undefined
  do {
    const page = await fetch({ ...pages, cursor })
    yield* page.items
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
}
