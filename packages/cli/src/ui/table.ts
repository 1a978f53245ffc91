import stringWidth from "string-width"
import { printableInline } from "./output.js"

/**
 * Columns without borders or colours (as kubectl and gh print): a row is one line for grep and
 * reads the same in a pipe or a log file. Each cell is measured once and padded once, so a
 * listing of any length prints in time proportional to its size.
 */
const renderColumns = (rows: ReadonlyArray<ReadonlyArray<string | number>>): string => {
  const measured = rows.map((row) =>
    row.map((cell) => {
      const text = printableInline(String(cell))
      return { text, width: stringWidth(text) }
    })
  )
  const columnWidths = measured.reduce<ReadonlyArray<number>>(
    (widest, row) => row.map(({ width }, column) => Math.max(widest[column] ?? 0, width)),
    []
  )
  return measured
    .map((row) =>
      row
        .map(({ text, width }, column) => text + " ".repeat((columnWidths[column] ?? 0) - width))
        .join("  ")
        .trimEnd()
    )
    .join("\n")
}

export const renderTable = (
  head: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string | number>>
): string => renderColumns([head.map((title) => title.toUpperCase()), ...rows])

/** One record as `field  value` lines, for a single product or result. */
export const renderRecord = (record: ReadonlyArray<readonly [string, string | number]>): string =>
  renderColumns(record.map(([field, value]) => [`${field}:`, value]))
