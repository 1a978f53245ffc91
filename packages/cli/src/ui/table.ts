import stringWidth from "string-width"
import { printableInline } from "./output.js"

type Cell = string | number

interface Measured {
  readonly text: string
  readonly width: number
}

const measure = (rows: ReadonlyArray<ReadonlyArray<Cell>>): ReadonlyArray<ReadonlyArray<Measured>> =>
  rows.map((row) =>
    row.map((cell) => {
      const text = printableInline(String(cell))
      return { text, width: stringWidth(text) }
    })
  )

/** Each column's width: the widest of its cells and of `atLeast`. */
const widthsOf = (measured: ReadonlyArray<ReadonlyArray<Measured>>, atLeast: ReadonlyArray<number> = []) =>
  measured.reduce<ReadonlyArray<number>>(
    (widest, row) => row.map(({ width }, column) => Math.max(widest[column] ?? 0, width)),
    atLeast
  )

const padded = (measured: ReadonlyArray<ReadonlyArray<Measured>>, widths: ReadonlyArray<number>) =>
  measured
    .map((row) =>
      row
        .map(({ text, width }, column) => text + " ".repeat((widths[column] ?? 0) - width))
        .join("  ")
        .trimEnd()
    )
    .join("\n")

/**
 * Columns without borders or colours (as kubectl and gh print): a row is one line for grep and
 * reads the same in a pipe or a log file. Each cell is measured once and padded once, so a
 * listing of any length prints in time proportional to its size.
 */
const renderColumns = (rows: ReadonlyArray<ReadonlyArray<Cell>>): string => {
  const measured = measure(rows)
  return padded(measured, widthsOf(measured))
}

const headOf = (head: ReadonlyArray<string>) => head.map((title) => title.toUpperCase())

export const renderTable = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Cell>>): string =>
  renderColumns([headOf(head), ...rows])

/** A table of items: called with the items, it renders them; `head` and `cells` say how. */
export interface Columns<T> {
  (items: ReadonlyArray<T>): string
  readonly head: ReadonlyArray<string>
  readonly cells: (item: T) => ReadonlyArray<Cell>
}

export const columns = <T>(
  head: ReadonlyArray<string>,
  cells: (item: T) => ReadonlyArray<Cell>
): Columns<T> =>
  Object.assign((items: ReadonlyArray<T>) => renderTable(head, items.map(cells)), { head, cells })

/**
 * A table printed a page at a time, as the pages come (`--all`): the header with the first page,
 * and each page padded to the widest cells seen so far, so a column only ever widens (a wider
 * cell on a later page moves that column over from there on; psql's FETCH_COUNT does the same).
 */
export const tableInPages = <T>(table: Columns<T>) => {
  let widths: ReadonlyArray<number> | undefined
  return (items: ReadonlyArray<T>): string => {
    const measured = measure(
      widths === undefined ? [headOf(table.head), ...items.map(table.cells)] : items.map(table.cells)
    )
    widths = widthsOf(measured, widths)
    return padded(measured, widths)
  }
}

/** One record as `field  value` lines, for a single product or result. */
export const renderRecord = (record: ReadonlyArray<readonly [string, string | number]>): string =>
  renderColumns(record.map(([field, value]) => [`${field}:`, value]))
