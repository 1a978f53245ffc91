/**
 * Bulk import: products, stock levels (absolute counts) or adjustments (deltas) from CSV or
 * NDJSON, streamed in constant memory. Every row is validated with the core's schemas; rejected
 * rows are reported with their line, column, code and message. On a local store (embedded or
 * PostgreSQL) the valid rows are staged and applied set-based in one transaction; over a server,
 * through `stock.batch` in batches of 1000 with idempotency keys. Every stock change is a ledger
 * movement (reason `count` or `adjustment`, reference `import:<import id>`) with its
 * `stock.updated` event, and an import id that was applied once applies nothing again.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { finished } from "node:stream/promises"
import type { Inventory } from "./Inventory.js"
import { InvalidInput } from "./InventoryError.js"
import { remoteImporter, requireKnownKind } from "./internal/importRemote.js"
import {
  DELIMITERS,
  type Delimiter,
  FIELDS,
  IMPORT_KINDS,
  type ImportFormat,
  type ImportKind,
  type ImportSource,
  newProgress,
  type ReadEvent,
  type ReadOptions,
  type Rejection,
  type RejectionCode,
  readImport
} from "./internal/importRows.js"
import {
  applyStaged,
  findImport,
  type ImportChanges,
  noChanges,
  openStaging,
  type StoredImport,
  stagedRejections
} from "./internal/importStore.js"
import { localStoreOf } from "./internal/localStore.js"
import { ACTOR_RULE, isActor } from "./Rules.js"

export type { Delimiter, ImportChanges, ImportFormat, ImportKind, ImportSource, Rejection, RejectionCode }
export { DELIMITERS, FIELDS, IMPORT_KINDS }

export interface ImportOptions extends ReadOptions {
  /** `skip` (default): the valid rows go in. `abort`: any rejected row and nothing is written. */
  readonly onError?: "skip" | "abort" | undefined
  /** Check everything and count what would change; write nothing. */
  readonly dryRun?: boolean | undefined
  /** Names the import; default: the SHA-256 of its content. The same id is applied only once. */
  readonly importId?: string | undefined
  /** Recorded on every movement. */
  readonly actor?: string | undefined
  /** Once the kind is known (from the option or the header), before any row. */
  readonly onStart?:
    | ((start: { readonly kind: ImportKind; readonly ignoredColumns: ReadonlyArray<string> }) => void)
    | undefined
  /** Each rejected row, in line order within each phase (rows first, then the store's checks). */
  readonly onRejection?: ((rejection: Rejection) => void | Promise<void>) | undefined
  readonly onProgress?: ((progress: ImportProgress) => void) | undefined
}

export interface ImportProgress {
  /**
   * `reading`: parsing and validating rows; `checking`: the store checks them (one step);
   * `applying`: the store writes them, a chunk at a time (on a local store).
   */
  readonly phase: "reading" | "checking" | "applying"
  /** Rows read so far. */
  readonly rows: number
  /** Bytes read so far (0 for an iterable of objects). */
  readonly bytes: number
  /** While applying: rows written so far (in the import's transaction), of `total`. */
  readonly applied?: number | undefined
  /** While applying: the rows that passed the checks. */
  readonly total?: number | undefined
}

export interface ImportResult {
  readonly importId: string
  readonly kind: ImportKind
  /**
   * `applied`: the valid rows were written. `already-imported`: this import id was applied
   * before, nothing was written now. `aborted`: rows were rejected under `onError: "abort"`,
   * nothing was written. `dry-run`: nothing was written; `changes` says what would change.
   */
  readonly status: "applied" | "already-imported" | "aborted" | "dry-run"
  /** Data rows read (not counting the header and empty lines). */
  readonly rows: number
  /** Rows written (or, in a dry run, that would be). */
  readonly applied: number
  readonly rejected: number
  /** Columns of the file the importer had no use for. */
  readonly ignoredColumns: ReadonlyArray<string>
  /** The reference of the import's ledger movements. */
  readonly reference: string
  readonly changes: ImportChanges
}

const IMPORT_ID = /^[A-Za-z0-9\-_.:]{1,100}$/

const checkOptions = (options: ImportOptions) => {
  requireKnownKind(options.kind)
  if (options.onError !== undefined && options.onError !== "skip" && options.onError !== "abort") {
    throw new InvalidInput({ field: "onError", rule: "must be skip or abort" })
  }
  if (options.format !== undefined && options.format !== "csv" && options.format !== "ndjson") {
    throw new InvalidInput({ field: "format", rule: "must be csv or ndjson" })
  }
  if (options.delimiter !== undefined && !DELIMITERS.includes(options.delimiter)) {
    throw new InvalidInput({ field: "delimiter", rule: "must be one of , ; | or a tab" })
  }
  if (options.actor !== undefined && !isActor(options.actor)) {
    throw new InvalidInput({ field: "actor", rule: ACTOR_RULE })
  }
  if (options.importId !== undefined && !IMPORT_ID.test(options.importId)) {
    throw new InvalidInput({
      field: "importId",
      rule: "must be 1 to 100 letters, digits and - _ . : (no spaces)"
    })
  }
}

/**
 * Imports rows from `source`: a Node stream or any async iterable of text or bytes (CSV or
 * NDJSON), or of row objects. Works over any `Inventory`; on a local store it takes the
 * set-based path. Resolves with what happened; rejects (InvalidInput) only when nothing could be
 * read, e.g. a header without a required column.
 */
export const importRows = async (
  inventory: Inventory,
  source: ImportSource,
  options: ImportOptions = {}
): Promise<ImportResult> => {
  checkOptions(options)
  return localStoreOf(inventory)
    ? importLocally(inventory, source, options)
    : importOverInterface(inventory, source, options)
}

const report = async (options: ImportOptions, rejection: Rejection) => {
  await options.onRejection?.(rejection)
}

const PROGRESS_EVERY = 1_000

type ValidEvent = Extract<ReadEvent, { type: "row" }>

const importLocally = async (
  inventory: Inventory,
  source: ImportSource,
  options: ImportOptions
): Promise<ImportResult> => {
  const store = localStoreOf(inventory)!
  const stored = options.importId === undefined ? undefined : await store.run(findImport(options.importId))
  if (stored !== undefined) {
    // Known before reading a byte: nothing to read, nothing to write.
    return alreadyImported(options.importId!, stored, [])
  }
  const progress = newProgress()
  const staging = await openStaging(store.run)
  try {
    let kind: ImportKind | undefined
    let ignoredColumns: ReadonlyArray<string> = []
    let rejectedBefore = 0
    // Rows handed on so far: `progress.rows` is already at the end of the chunk being handled.
    let rows = 0
    for await (const events of readImport(source, options, progress)) {
      const valid: Array<ValidEvent> = []
      for (const event of events) {
        if (event.type === "start") {
          kind = event.kind
          ignoredColumns = event.ignoredColumns
          options.onStart?.(event)
        } else {
          rows += 1
          if (event.type === "row") valid.push(event)
          else {
            rejectedBefore += 1
            await report(options, event.rejection)
          }
        }
        if (rows % PROGRESS_EVERY === 0) {
          options.onProgress?.({ phase: "reading", rows, bytes: progress.bytes })
        }
      }
      await staging.add(valid)
    }
    await staging.finish()
    const importId = options.importId ?? progress.hash.digest("hex")
    const reference = `import:${importId}`
    const before = options.importId === undefined ? await store.run(findImport(importId)) : undefined
    if (before !== undefined) return alreadyImported(importId, before, ignoredColumns)
    options.onProgress?.({ phase: "checking", rows: progress.rows, bytes: progress.bytes })
    const outcome = await store.run(
      applyStaged(staging.table, {
        kind: kind!,
        importId,
        reference,
        actor: options.actor ?? null,
        dryRun: options.dryRun ?? false,
        rejectedBefore,
        abortOnRejection: options.onError === "abort",
        rows: progress.rows,
        staged: staging.staged(),
        onApplied: (applied, total) =>
          options.onProgress?.({
            phase: "applying",
            rows: progress.rows,
            bytes: progress.bytes,
            applied,
            total
          })
      })
    )
    if (outcome.status === "already-imported") {
      return alreadyImported(importId, outcome.stored, ignoredColumns)
    }
    let rejected = rejectedBefore
    let after = 0
    while (true) {
      const page = await store.run(stagedRejections(staging.table, kind!, after))
      for (const rejection of page) await report(options, rejection)
      rejected += page.length
      if (page.length === 0) break
      after = page[page.length - 1]!.line
    }
    return {
      importId,
      kind: kind!,
      status: outcome.status,
      rows: progress.rows,
      applied: outcome.applied,
      rejected,
      ignoredColumns,
      reference,
      changes: outcome.changes
    }
  } finally {
    await staging.drop()
  }
}

/** The kind recorded with the import: a re-run may not have read a byte of the file. */
const alreadyImported = (
  importId: string,
  stored: StoredImport,
  ignoredColumns: ReadonlyArray<string>
): ImportResult => ({
  importId,
  kind: stored.kind,
  status: "already-imported",
  rows: stored.rows,
  applied: 0,
  rejected: 0,
  ignoredColumns,
  reference: `import:${importId}`,
  changes: noChanges
})

/** Keeps a copy of a text source in a temporary file: to hash it first, and to read it twice. */
const spool = async (source: ImportSource, directory: string) => {
  const file = join(directory, "input")
  const out = createWriteStream(file)
  const progress = newProgress()
  let objects = false
  for await (const chunk of source as AsyncIterable<unknown>) {
    const text = typeof chunk === "string" || chunk instanceof Uint8Array
    if (!text) objects = true
    const bytes = text ? (chunk as string | Uint8Array) : `${JSON.stringify(chunk)}\n`
    progress.hash.update(bytes)
    if (!out.write(bytes)) await new Promise<void>((resolve) => out.once("drain", () => resolve()))
  }
  out.end()
  await finished(out)
  return { file, hash: progress.hash.digest("hex"), objects }
}

const importOverInterface = async (
  inventory: Inventory,
  source: ImportSource,
  options: ImportOptions
): Promise<ImportResult> => {
  const directory = mkdtempSync(join(tmpdir(), "invkit-import-"))
  try {
    const spooled = await spool(source, directory)
    const importId = options.importId ?? spooled.hash
    const reference = `import:${importId}`
    const readOptions: ReadOptions = spooled.objects ? { ...options, format: "ndjson" } : options
    const read = () => createReadStream(spooled.file) as unknown as ImportSource

    /** Validation and duplicates: what can be known without asking the server. */
    const checkRows = async function* () {
      const progress = newProgress()
      const firstLine = new Map<string, number>()
      for await (const events of readImport(read(), readOptions, progress))
        for (const event of events) {
          if (event.type === "row") {
            const key = `${event.row.sku}\u0000${"location" in event.row ? event.row.location : ""}`
            const first = firstLine.get(key)
            if (first === undefined) firstLine.set(key, event.line)
            else {
              yield {
                type: "rejected" as const,
                rejection: {
                  line: event.line,
                  column: "sku",
                  code: "duplicate" as const,
                  message: `sku: ${event.row.sku} is already on line ${first}; keep one row per SKU and location (the first one was used)`,
                  row: { ...event.row }
                }
              }
              continue
            }
          }
          yield { ...event, progress }
        }
    }

    /**
     * One pass over the copy: every row checked here, the valid ones sent in batches. A check
     * (`dryRun`) sends each batch as a dry run, so the store's own checks answer and nothing is
     * written.
     */
    const pass = async (dryRun: boolean, announce: boolean) => {
      let kind: ImportKind = options.kind ?? "stock"
      let ignoredColumns: ReadonlyArray<string> = []
      let rows = 0
      let rejected = 0
      let importer: ReturnType<typeof remoteImporter> | undefined
      const reject = (rejection: Rejection) => {
        rejected += 1
        void report(options, rejection)
      }
      for await (const event of checkRows()) {
        if (event.type === "start") {
          kind = event.kind
          ignoredColumns = event.ignoredColumns
          if (announce) options.onStart?.(event)
          importer = remoteImporter(inventory, {
            kind,
            importId,
            reference,
            dryRun,
            abortOnRejection: !dryRun && options.onError === "abort",
            reject
          })
          continue
        }
        rows += 1
        if (event.type === "rejected") reject(event.rejection)
        else await importer!.add(event.line, event.row)
        if (rows % PROGRESS_EVERY === 0) options.onProgress?.({ phase: "reading", rows, bytes: 0 })
      }
      const { applied, changes } = importer ? await importer.finish() : { applied: 0, changes: noChanges }
      return { kind, ignoredColumns, rows, rejected, applied, changes, stopped: importer?.stopped ?? false }
    }

    // Under abort, a check of the whole file first: a row refused here or by the store, and
    // nothing is sent. Else a read of the whole file first: a file that cannot be read to its
    // end (an unclosed quote, bytes that are not text) fails before anything is sent.
    const checkFirst = options.onError === "abort" && !options.dryRun
    if (!checkFirst) for await (const _ of readImport(read(), readOptions, newProgress()));
    if (checkFirst) {
      const check = await pass(true, true)
      if (check.rejected > 0) {
        const { kind, rows, rejected, ignoredColumns } = check
        return {
          importId,
          kind,
          status: "aborted",
          rows,
          applied: 0,
          rejected,
          ignoredColumns,
          reference,
          changes: noChanges
        }
      }
    }
    const { kind, rows, rejected, applied, changes, ignoredColumns, stopped } = await pass(
      options.dryRun ?? false,
      !checkFirst
    )
    return {
      importId,
      kind,
      status: options.dryRun ? "dry-run" : stopped ? "aborted" : "applied",
      rows,
      applied,
      rejected,
      ignoredColumns,
      reference,
      changes
    }
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}
