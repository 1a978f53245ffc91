import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import { pipeline } from "node:stream/promises"
import { Import } from "@invkit/sdk"
import { quoteInput } from "@invkit/sdk/rules"
import { readableFile } from "../../options/files.js"
import { actorOf } from "../../options/write.js"
import { type GlobalOptions, storeDirectory, withInventoryHere } from "../../session.js"
import { note, printJson, printLine, signed } from "../../ui/output.js"
import { UsageError } from "../../usageError.js"
import { openErrorsFile } from "./errorsFile.js"
import { importProgressDisplay } from "./progress.js"

export interface ImportCommandOptions extends GlobalOptions {
  readonly kind?: string
  readonly format?: string
  readonly map?: ReadonlyArray<string>
  readonly errors?: string
  readonly onError?: string
  readonly dryRun?: boolean
  readonly importId?: string
  readonly actor?: string
  readonly delimiter?: string
}

/** Rows were rejected: exit 8, after the summary has been printed. */
class ImportRejectedRows extends Error {
  readonly _tag = "ImportRejectedRows"
  constructor(
    readonly rejected: number,
    readonly status: Import.ImportResult["status"]
  ) {
    super(
      status === "applied"
        ? `${rejected} row(s) were rejected and skipped (see above); the valid rows were imported. Fix the rejected rows (--errors FILE writes them out) and import them again.`
        : status === "dry-run"
          ? `${rejected} row(s) would be rejected (see above). Dry run: nothing was changed.`
          : `${rejected} row(s) were rejected (see above); nothing was imported. Fix them and run the import again.`
    )
  }
}

const parseMap = (pairs: ReadonlyArray<string> = []): Record<string, string> =>
  Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf("=")
      if (at <= 0 || at === pair.length - 1) {
        throw new UsageError(`--map ${quoteInput(pair)}: write it as COLUMN=FIELD, e.g. --map count=quantity`)
      }
      return [pair.slice(0, at), pair.slice(at + 1)]
    })
  )

const formatOf = (file: string, format: string | undefined): Import.ImportFormat | undefined => {
  if (format !== undefined) {
    if (format !== "csv" && format !== "ndjson")
      throw new UsageError(`--format must be csv or ndjson, not ${quoteInput(format)}`)
    return format
  }
  if (/\.(ndjson|jsonl)$/i.test(file)) return "ndjson"
  if (/\.csv$/i.test(file)) return "csv"
  return undefined // recognised from the content
}

/** The file's SHA-256, read once before importing, so a file imported before is known at once. */
const hashFile = async (file: string) => {
  const hash = createHash("sha256")
  await pipeline(createReadStream(file), hash)
  return hash.digest("hex")
}

/** `tab` (or `\t`) for a tab, which a shell makes awkward to type. */
const delimiterOf = (text: string | undefined): Import.Delimiter | undefined => {
  if (text === undefined) return undefined
  const delimiter = text === "tab" || text === "\\t" ? "\t" : text
  if (!Import.DELIMITERS.includes(delimiter as Import.Delimiter)) {
    throw new UsageError(`--delimiter must be one of , ; | or tab, not ${quoteInput(text)}`)
  }
  return delimiter as Import.Delimiter
}

const count = (n: number) => n.toLocaleString("en")

export const run = async (file: string, options: ImportCommandOptions): Promise<void> => {
  const onError = options.onError ?? "skip"
  if (onError !== "skip" && onError !== "abort") {
    throw new UsageError(`--on-error must be skip or abort, not ${quoteInput(onError)}`)
  }
  if (options.kind !== undefined && !Import.IMPORT_KINDS.includes(options.kind as Import.ImportKind)) {
    throw new UsageError(
      `--kind must be one of ${Import.IMPORT_KINDS.join(", ")}, not ${quoteInput(options.kind)}`
    )
  }
  const map = parseMap(options.map)
  const delimiter = delimiterOf(options.delimiter)
  const format = formatOf(file, options.format)
  const stdin = file === "-"
  const size = stdin ? undefined : readableFile(file, "<file>")
  const importId = options.importId ?? (stdin ? undefined : await hashFile(file))
  const display = importProgressDisplay(size, Boolean(options.json))
  const errorsFile = options.errors
    ? openErrorsFile(options.errors, { inputs: stdin ? [] : [file], storeDir: storeDirectory(options) })
    : undefined
  const json = Boolean(options.json)
  const result = await withInventoryHere(options, (inventory) =>
    Import.importRows(inventory, stdin ? process.stdin : createReadStream(file), {
      kind: options.kind as Import.ImportKind | undefined,
      format,
      map,
      delimiter,
      onError,
      dryRun: options.dryRun,
      importId,
      actor: actorOf(options.actor),
      onProgress: display.onProgress,
      onStart: ({ kind }) => errorsFile?.start(kind),
      onRejection: async (rejection) => {
        display.print(
          json
            ? JSON.stringify({
                rejected: {
                  line: rejection.line,
                  column: rejection.column,
                  code: rejection.code,
                  message: rejection.message
                }
              })
            : `line ${rejection.line}: ${rejection.message} (${rejection.code})`
        )
        await errorsFile?.write(rejection)
      }
    })
  ).then(
    async (done) => {
      display.stop()
      await errorsFile?.close()
      return done
    },
    async (error: unknown) => {
      // Refused as a whole: nothing changed, so no empty errors file is left behind either.
      display.stop()
      await errorsFile?.discard()
      throw error
    }
  )

  if (json) printJson(result)
  else {
    const c = result.changes
    printLine(`import id:     ${result.importId}`)
    printLine(`kind:          ${result.kind}`)
    printLine(`status:        ${result.status}`)
    printLine(`rows:          ${count(result.rows)}`)
    printLine(`${result.status === "dry-run" ? "would apply:" : "applied:     "}  ${count(result.applied)}`)
    printLine(`rejected:      ${count(result.rejected)}`)
    if (result.kind === "products") {
      printLine(
        `products:      ${count(c.newProducts)} new, ${count(c.changedProducts)} changed, ${count(c.unchangedProducts)} unchanged`
      )
    } else {
      printLine(
        `levels:        ${count(c.newLevels)} new, ${count(c.changedLevels)} changed, ${count(c.unchangedLevels)} unchanged`
      )
      printLine(`total delta:   ${signed(c.totalDelta)}`)
    }
    if (result.ignoredColumns.length > 0) {
      note(
        `Ignored column(s) ${result.ignoredColumns.map(quoteInput).join(", ")}: no field of ${result.kind} has that name (map one with --map COLUMN=FIELD).`
      )
    }
    if (result.status === "already-imported") {
      note(
        `Already imported (import id ${result.importId}): nothing was changed. To import it again, pass another --import-id.`
      )
    } else if (result.status === "dry-run" && result.rejected === 0) {
      note("Dry run: nothing was changed.")
    } else if (result.rejected === 0) {
      note(`Imported ${count(result.applied)} row(s) as ${result.reference}.`)
    }
  }
  if (result.rejected > 0 && result.status !== "already-imported") {
    throw new ImportRejectedRows(result.rejected, result.status)
  }
}
