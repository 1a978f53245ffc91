/** Paging without Effect, for the clients that must load fast (see StoreProcess.ts). */

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | null
}

/** Every item of a paged list, fetching the next page as the previous one is used up. */
export async function* allItems<T, Q extends object>(
  fetch: (query: Q & { readonly cursor?: string | undefined }) => Promise<Page<T>>,
  query: Q
): AsyncIterable<T> {
  let cursor: string | undefined
  do {
    const page = await fetch({ ...query, cursor })
    yield* page.items
    cursor = page.nextCursor ?? undefined
  } while (cursor !== undefined)
}
