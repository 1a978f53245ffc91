import Table from "cli-table3"

// Columns without borders or colours (as kubectl and gh print): a row is one line for grep and
// reads the same in a pipe or a log file.
const noBorders = {
  top: "",
  "top-mid": "",
  "top-left": "",
  "top-right": "",
  bottom: "",
  "bottom-mid": "",
  "bottom-left": "",
  "bottom-right": "",
  left: "",
  "left-mid": "",
  mid: "",
  "mid-mid": "",
  right: "",
  "right-mid": "",
  middle: "  "
}
const style = { head: [], border: [], "padding-left": 0, "padding-right": 0 }

export const renderTable = (
  head: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string | number>>
): string => {
  const table = new Table({ head: head.map((title) => title.toUpperCase()), chars: noBorders, style })
  for (const row of rows) table.push(row.map(String))
  return trimLines(table.toString())
}

/** One record as `field  value` lines, for a single product or result. */
export const renderRecord = (record: ReadonlyArray<readonly [string, string | number]>): string => {
  const table = new Table({ chars: noBorders, style })
  for (const [field, value] of record) table.push([`${field}:`, String(value)])
  return trimLines(table.toString())
}

const trimLines = (text: string): string =>
  text
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
