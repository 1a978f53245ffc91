import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Export } from "@invkit/sdk"
import { MOMENT_RULE, parseMoment, quoteInput } from "@invkit/sdk/rules"
import { writableFile } from "../../options/files.js"
import { type GlobalOptions, storeDirectory, withInventoryHere } from "../../session.js"
import { UsageError } from "../../usageError.js"

export interface ExportCommandOptions extends GlobalOptions {
  readonly format?: string
  readonly since?: string
  readonly output?: string
}

const KINDS = ["products", "stock", "movements"]
const FORMATS = ["csv", "ndjson", "json"]

export const run = async (kind: string, options: ExportCommandOptions): Promise<void> => {
  if (!KINDS.includes(kind)) throw new UsageError(`export what? ${KINDS.join(", ")}; not ${quoteInput(kind)}`)
  // --json asks for JSON data: a JSON array unless --format says otherwise.
  const format = options.format ?? (options.json ? "json" : "csv")
  if (!FORMATS.includes(format))
    throw new UsageError(`--format must be one of ${FORMATS.join(", ")}, not ${quoteInput(format)}`)
  const since = options.since === undefined ? undefined : parseMoment(options.since)
  if (options.since !== undefined && since === undefined) {
    throw new UsageError(`--since ${MOMENT_RULE}, not ${quoteInput(options.since)}`)
  }
  const file =
    options.output === undefined
      ? undefined
      : writableFile(options.output, "--output", { storeDir: storeDirectory(options) })
  await withInventoryHere(options, (inventory) =>
    pipeline(
      Readable.from(
        Export.exportRows(inventory, kind as Export.ExportKind, {
          format: format as Export.ExportFormat,
          since
        })
      ),
      file?.stream ?? process.stdout
    )
  ).then(
    // Only a whole export takes the place of a file that was there.
    () => file?.keep(),
    async (error: unknown) => {
      await file?.drop()
      throw error
    }
  )
}
