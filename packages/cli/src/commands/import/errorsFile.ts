/**
 * `--errors FILE`: the rejected rows, with why, in a file that can be fixed and imported again.
 * CSV (or NDJSON for a .ndjson / .jsonl name); the `error_*` columns are ignored on import.
 */

import { once } from "node:events"
import { Export, Import } from "@invkit/sdk"
import { type FileGuard, writableFile } from "../../options/files.js"

export interface ErrorsFile {
  start(kind: Import.ImportKind): void
  write(rejection: Import.Rejection): Promise<void>
  close(): Promise<void>
  /** After an import refused as a whole (an unreadable file): kept only if it holds a row. */
  discard(): Promise<void>
}

const ERROR_COLUMNS = ["error_line", "error_column", "error_code", "error_message"]

/**
 * Opened before the import starts, so a path that cannot be written to changes nothing; never the
 * file being imported (`input`) nor one in the store's directory.
 */
export const openErrorsFile = (path: string, guard: FileGuard): ErrorsFile => {
  const ndjson = /\.(ndjson|jsonl)$/i.test(path)
  const file = writableFile(path, "--errors", guard)
  const out = file.stream
  let fields: ReadonlyArray<string> = []
  let rows = 0
  const put = async (text: string) => {
    if (!out.write(text)) await once(out, "drain")
  }
  const start = (kind: Import.ImportKind) => {
    fields = Import.FIELDS[kind]
    if (!ndjson) void put(Export.csvLine([...ERROR_COLUMNS, ...fields]))
  }
  const write = async (rejection: Import.Rejection) => {
    rows += 1
    const why = [rejection.line, rejection.column ?? "", rejection.code, rejection.message]
    if (ndjson) {
      const [error_line, error_column, error_code, error_message] = why
      await put(
        `${JSON.stringify({ error_line, error_column, error_code, error_message, ...rejection.row })}\n`
      )
    } else {
      await put(Export.csvLine([...why, ...fields.map((field) => rejection.row[field])]))
    }
  }
  return {
    start,
    write,
    close: file.keep,
    // A file that was at the path stays as it was unless there are rows to put in its place.
    discard: () => (rows === 0 ? file.drop() : file.keep())
  }
}
