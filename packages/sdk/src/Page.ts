/**
 * Lists come back a page at a time. `nextCursor` is opaque: pass it back as `cursor` for the next
 * page; `null` means this was the last one.
 */
import * as Schema from "effect/Schema"

import type { Page } from "./internal/paging.js"
import { DEFAULT_LIMIT, LIMIT_RULE, MAX_LIMIT } from "./Rules.js"

export { allItems, type Page } from "./internal/paging.js"

/** The schema of a page of `item`s (named apart from the type, which bundled typings would drop). */
export const pageOf = <A, I, R>(item: Schema.Schema<A, I, R>) =>
  Schema.Struct({ items: Schema.Array(item), nextCursor: Schema.NullOr(Schema.String) })

export { DEFAULT_LIMIT, MAX_LIMIT }

export const Limit = Schema.Number.pipe(
  Schema.int({ message: () => "must be a whole number" }),
  Schema.between(1, MAX_LIMIT, { message: () => LIMIT_RULE })
)

export const encodeCursor = (key: ReadonlyArray<string | number>): string =>
  Buffer.from(JSON.stringify(key)).toString("base64url")

/** What one part of a list's sort key is: a whole number (an id, a shortfall) or a text (a SKU). */
type KeyPart = "int" | "text"

const fitsPart = (part: KeyPart, value: unknown) =>
  part === "int" ? Number.isSafeInteger(value) : typeof value === "string" && !value.includes("\0")

/**
 * The cursor of a list sorted by a key of these parts. A cursor this library did not write (a
 * forged or truncated one, or another list's) is a caller mistake, reported as such by the
 * caller's schema: it never reaches the database, where `[1.5]` for an id would be its error.
 */
export const cursorOf = (...parts: ReadonlyArray<KeyPart>) =>
  Schema.String.pipe(
    Schema.filter(
      (cursor) => {
        try {
          const key: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString())
          return (
            Array.isArray(key) &&
            key.length === parts.length &&
            parts.every((part, i) => fitsPart(part, key[i]))
          )
        } catch {
          return false
        }
      },
      { message: () => "is not a cursor returned by a previous page; leave it out to start at the beginning" }
    )
  )

/** The cursor of a list sorted by id, newest or oldest first. */
export const IdCursor = cursorOf("int")

/** The cursor of a list sorted by one text key (a SKU, a supplier's id). */
export const TextCursor = cursorOf("text")

/** A list's paging and nothing else: how many items, and where the last page ended. */
export const pageQuery = <A>(cursor: Schema.Schema<A, string>) =>
  Schema.Struct({
    limit: Schema.optionalWith(Limit, { default: () => DEFAULT_LIMIT }),
    cursor: Schema.optional(cursor)
  })

export const decodeCursor = (cursor: string): Array<string | number> =>
  JSON.parse(Buffer.from(cursor, "base64url").toString())

/** Turns `limit + 1` fetched rows into a page: the extra row only says that there is more. */
export const toPage = <A>(
  rows: ReadonlyArray<A>,
  limit: number,
  keyOf: (last: A) => ReadonlyArray<string | number>
): Page<A> => {
  const items = rows.slice(0, limit)
  const last = items.at(-1)
  return { items, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null }
}
