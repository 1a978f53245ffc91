/**
 * The set-based import on a local store (PostgreSQL or the embedded PGlite). Valid rows go to a
 * staging table of their own (COPY on both),
 * then a handful of statements check and apply them all at once. The writes are those of
 * `Stock.ts` for a batch: levels locked in (sku, location) order and one ledger movement per
 * level; the events are one `stock.imported` per chunk of levels, listing them; the reorder rule
 * is evaluated after the commit.
 *
 * For a million rows: one pass marks the rows the store refuses (only those rows are updated),
 * the statements sort and hash in memory (`work_mem` for their transaction), and one statement
 * writes levels, movements and events, and notes the levels left low.
 */
import { randomBytes } from "node:crypto"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import { ReorderRule } from "../Reorder.js"
import { LEVEL_RULE, MAX_LEVEL } from "../Rules.js"
import type { ImportKind, ProductRow, Rejection, RejectionCode, ValidRow } from "./importRows.js"
import { JobsDatabase } from "./jobsDatabase.js"
import { insertEvents } from "./outbox.js"
import { heldAt } from "./reservationWrite.js"
import { currentTraceparent } from "./traceContext.js"
import { isRetryableConflict, pgCode, storeFailure } from "./validation.js"
import { CHECKPOINT_AFTER_BYTES, CHECKPOINT_DUE } from "./walCheckpoint.js"

/** What an import would change, or changed. */
export interface ImportChanges {
  readonly newProducts: number
  readonly changedProducts: number
  readonly unchangedProducts: number
  readonly newLevels: number
  readonly changedLevels: number
  readonly unchangedLevels: number
  /** Units added over all levels (negative: taken away). */
  readonly totalDelta: number
}

export const noChanges: ImportChanges = {
  newProducts: 0,
  changedProducts: 0,
  unchangedProducts: 0,
  newLevels: 0,
  changedLevels: 0,
  unchangedLevels: 0,
  totalDelta: 0
}

/**
 * The memory each sort and hash of the set-based statements may take (`work_mem`, for their
 * transaction only). PostgreSQL: enough to sort and join a million staged rows in memory, not on
 * disk. PGlite: its WebAssembly heap grows to the most any statement took and never shrinks, so
 * a sort larger than this goes to a temporary file, which is freed when the statement ends.
 */
const WORK_MEM = { Postgres: "256MB", Embedded: "16MB" } as const
const PAGE = 5_000
/** Levels listed by one `stock.imported` event (Event.StockImported): about 100 KB of JSON. */
export const IMPORTED_CHUNK = 1_000

const COLUMNS = [
  "line",
  "sku",
  "location",
  "amount",
  "name",
  "unit",
  "reorder_point",
  "reorder_quantity",
  "max_level",
  "preferred_supplier",
  "active"
] as const

const SPECIAL = /[\\\t\n\r]/

/** COPY's text format: tab-separated, `\N` for null, backslash escapes. */
const copyText = (value: string | number | boolean | null): string =>
  value === null
    ? "\\N"
    : typeof value === "string"
      ? !SPECIAL.test(value)
        ? value
        : value.replace(/[\\\t\n\r]/g, (c) =>
            c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"
          )
      : String(value)

const productValues = (line: number, product: ProductRow): Array<string | number | boolean | null> => [
  line,
  product.sku,
  null,
  null,
  product.name,
  product.unit ?? null,
  product.reorderPoint ?? null,
  product.reorderQuantity ?? null,
  product.maxLevel ?? null,
  product.preferredSupplier ?? null,
  product.active ?? null
]

/** The product columns of a stock or adjustment row. */
const NO_PRODUCT = "\t\\N".repeat(COLUMNS.length - 4)

/** A row as a line of COPY text; a stock row written directly, the most common of a million. */
const copyLine = (line: number, row: ValidRow): string => {
  if ("name" in row) return `${productValues(line, row).map(copyText).join("\t")}\n`
  const amount = "quantity" in row ? row.quantity : row.delta
  return `${line}\t${copyText(row.sku)}\t${copyText(row.location)}\t${amount}${NO_PRODUCT}\n`
}

export interface Staging {
  readonly table: string
  add(rows: ReadonlyArray<{ readonly line: number; readonly row: ValidRow }>): Promise<void>
  /** What was added so far (rows arrive in line order); none before a row. */
  staged(): StagedRows | undefined
  /** Flushes what is buffered; the table is complete after it. */
  finish(): Promise<void>
  /** Drops the table; also after a failure. */
  drop(): Promise<void>
}

/** The rows of a staging table, as they were added. */
export interface StagedRows {
  /** The first and last line. */
  readonly first: number
  readonly last: number
  readonly count: number
  /** The sum of their quantities or deltas (stock rows). */
  readonly amount: number
}

/** The table of the levels left low by the import, next to its staging table. */
const lowTable = (table: string) => `${table}_low`

/** The table of the rows the import's check refuses (`findRefusals`), next to its staging table. */
const refusedTable = (table: string) => `${table}_refused`

type Run = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient | JobsDatabase>) => Promise<A>

/** A staging table of this import's valid rows, unlogged: it lives only as long as the import. */
export const openStaging = async (run: Run): Promise<Staging> => {
  const table = `import_rows_${randomBytes(6).toString("hex")}`
  const database = await run(JobsDatabase)
  await run(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.all([
        sql.unsafe(`
          create unlogged table ${table} (
            line integer not null, sku text not null, location text, amount integer,
            name text, unit text, reorder_point integer, reorder_quantity integer, max_level integer,
            preferred_supplier text, active boolean,
            rejection text, detail text
          )`),
        // The rejected rows, read back in line order: usually few, so a small partial index.
        sql.unsafe(`create index ${table}_rejected on ${table} (line) where rejection is not null`),
        // The levels the import left at or below their reorder point, for the rule after the commit.
        sql.unsafe(
          `create unlogged table ${lowTable(table)} (sku text not null, location text not null, primary key (sku, location))`
        )
      ])
    )
  )
  const drop = () =>
    run(
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.unsafe(`drop table if exists ${table}, ${lowTable(table)}, ${refusedTable(table)}`)
      )
    ).then(() => {})

  const copy = `copy ${table} (${COLUMNS.join(", ")}) from`
  // Both stores take the rows as COPY text: over a pg connection of its own on PostgreSQL, a chunk
  // at a time as a blob on PGlite (whose parameters of unnest arrays cost more than the rows).
  const sink =
    database._tag === "Postgres"
      ? await copyToPostgres(Redacted.value(database.url), `${copy} stdin`)
      : {
          write: (text: string) => run(database.copyFrom(`${copy} '/dev/blob'`, text)),
          end: async () => {},
          close: async () => {}
        }
  const batch = database._tag === "Postgres" ? COPY_BATCH : EMBEDDED_COPY_BATCH
  let buffer: Array<string> = []
  let staged: StagedRows | undefined
  const flush = async () => {
    if (buffer.length === 0) return
    const text = buffer.join("")
    buffer = []
    await sink.write(text)
  }
  return {
    table,
    add: async (rows) => {
      if (rows.length === 0) return
      let amount = staged?.amount ?? 0
      for (const { line, row } of rows) {
        amount += "quantity" in row ? row.quantity : "delta" in row ? row.delta : 0
        buffer.push(copyLine(line, row))
        if (buffer.length >= batch) await flush()
      }
      staged = {
        first: staged?.first ?? rows[0]!.line,
        last: rows[rows.length - 1]!.line,
        count: (staged?.count ?? 0) + rows.length,
        amount
      }
    },
    staged: () => staged,
    finish: async () => {
      await flush()
      await sink.end()
      // The stock rows are written a chunk of lines at a time; rows arrive in line order, so a
      // block range index finds a chunk's rows for almost nothing. Built once the rows are in:
      // made before, it would summarize none of the ranges the COPY added, and every chunk
      // would read the whole table to find its own rows.
      await run(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql.unsafe(`create index ${table}_line on ${table} using brin (line)`)
        )
      )
    },
    drop: async () => {
      await sink.close()
      await drop()
    }
  }
}

/** Rows per write to the COPY stream on PostgreSQL. */
const COPY_BATCH = 1_000
/**
 * Rows per COPY statement on PGlite: each is a statement of its own, and PGlite holds the blob
 * and its parse in its WebAssembly heap, which grows and never shrinks.
 */
const EMBEDDED_COPY_BATCH = 5_000

/** COPY needs a plain pg connection of its own; the table is visible to every connection. */
const copyToPostgres = async (url: string, statement: string) => {
  // Loaded here: only an import into PostgreSQL uses them.
  const [{ default: pg }, { from: copyFrom }] = await Promise.all([import("pg"), import("pg-copy-streams")])
  const client = new pg.Client({ connectionString: url, application_name: "invkit import" })
  await client.connect()
  const copy = client.query(copyFrom(statement))
  const done = new Promise<void>((resolve, reject) => {
    copy.on("finish", resolve)
    copy.on("error", reject)
  })
  // When the import stops early the connection is closed under the COPY: not worth a crash.
  done.catch(() => {})
  client.on("error", () => {})
  return {
    write: async (text: string) => {
      if (!copy.write(text)) await new Promise<void>((resolve) => copy.once("drain", () => resolve()))
    },
    end: async () => {
      copy.end()
      await done
      await client.end()
    },
    close: () => client.end().catch(() => {})
  }
}

// ---------------------------------------------------------------------------------------------
// Checking and applying

interface StagedRejection {
  readonly line: number
  readonly rejection: RejectionCode
  readonly detail: string | null
  readonly sku: string
  readonly location: string | null
  readonly amount: number | null
  readonly name: string | null
  readonly unit: string | null
  readonly reorderPoint: number | null
  readonly reorderQuantity: number | null
  readonly maxLevel: number | null
  readonly preferredSupplier: string | null
  readonly active: boolean | null
}

/** A rejection found by the database, told as the row-level ones are. */
const describeRejection = (kind: ImportKind, staged: StagedRejection): Rejection => {
  const amountField = kind === "adjustments" ? "delta" : "quantity"
  const row: Record<string, unknown> =
    kind === "products"
      ? {
          sku: staged.sku,
          name: staged.name,
          unit: staged.unit,
          reorderPoint: staged.reorderPoint,
          reorderQuantity: staged.reorderQuantity,
          maxLevel: staged.maxLevel,
          preferredSupplier: staged.preferredSupplier,
          active: staged.active
        }
      : { sku: staged.sku, location: staged.location, [amountField]: staged.amount }
  const at = staged.location === null ? staged.sku : `${staged.sku} at ${staged.location}`
  const base = { line: staged.line, code: staged.rejection, row }
  switch (staged.rejection) {
    case "duplicate":
      return {
        ...base,
        column: "sku",
        message: `sku: ${at} is already on line ${staged.detail}; keep one row per ${kind === "products" ? "SKU" : "SKU and location"} (the first one was used)`
      }
    case "unknown-sku":
      return {
        ...base,
        column: "sku",
        message: `sku: no product ${staged.sku}; import or add the product first, or correct the SKU`
      }
    case "unknown-location":
      return {
        ...base,
        column: "location",
        message: `location: no location ${staged.location}; add the location first, or correct it`
      }
    case "unknown-supplier":
      return {
        ...base,
        column: "preferredSupplier",
        message: `preferredSupplier: no supplier ${staged.preferredSupplier}; add the supplier first, or leave the cell empty`
      }
    case "held-stock":
      return {
        ...base,
        column: amountField,
        message: `${amountField}: reservations hold ${staged.detail} units of ${at}; count at least that many, or release or fulfil the holds first`
      }
    case "insufficient-stock":
      return {
        ...base,
        column: "delta",
        message: `delta: ${at} has ${staged.detail} available, ${-(staged.amount ?? 0)} requested; stock cannot go below zero`
      }
    default:
      return {
        ...base,
        column: amountField,
        message: `${amountField}: would take ${at} past its limit: one location ${LEVEL_RULE}`
      }
  }
}

/** A concurrent writer added a row between the check and the write: the transaction runs again. */
class ConcurrentChange extends Data.TaggedError("ConcurrentChange")<{}> {}
/** The check beside the write found rows the write did not leave out. */
class RefusalsUnmarked extends Data.TaggedError("RefusalsUnmarked")<{}> {}

export interface LocalImportOptions {
  readonly kind: ImportKind
  readonly importId: string
  readonly reference: string
  readonly actor: string | null
  readonly dryRun: boolean
  /** Rejections already found while reading (before the database looked). */
  readonly rejectedBefore: number
  readonly abortOnRejection: boolean
  readonly rows: number
  /** The staged rows (Staging.staged): the stock write goes through their lines a chunk at a time. */
  readonly staged: StagedRows | undefined
  /** After the checks, and after each chunk of stock rows written: rows applied of `total`. */
  readonly onApplied?: ((applied: number, total: number) => void) | undefined
}

export type LocalOutcome =
  | {
      readonly status: "applied" | "aborted" | "dry-run"
      readonly applied: number
      readonly changes: ImportChanges
    }
  | { readonly status: "already-imported"; readonly stored: StoredImport }

export interface StoredImport {
  readonly kind: ImportKind
  readonly applied: number
  readonly rejected: number
  readonly rows: number
  readonly summary: ImportChanges
  readonly createdAt: Date
}

export const findImport = (importId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<StoredImport>`select kind, applied, rejected, rows, summary, created_at from imports where id = ${importId}`.pipe(
      Effect.map((rows) => rows[0]),
      Effect.mapError(storeFailure)
    )
  )

/**
 * Checks the staged rows against the store (unknown SKUs, locations and suppliers, duplicates,
 * stock that would go below zero), then applies the valid ones in one transaction that also
 * records the import id. A lost deadlock or serialization race runs the transaction again.
 */
export const applyStaged = (table: string, options: LocalImportOptions) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const reorder = yield* ReorderRule
    const t = sql.unsafe(table)
    const low = sql.unsafe(lowTable(table))
    const { kind } = options
    const stockKind = kind !== "products"
    const database = yield* JobsDatabase
    const workMem = WORK_MEM[database._tag]
    const embedded = database._tag === "Embedded"
    const releaseWal = embedded ? releaseEmbeddedWal(sql) : Effect.void
    const releaseWalIfDue = embedded ? releaseEmbeddedWalIfDue(sql) : Effect.void
    yield* analyzeStaging(sql, table, embedded)

    // Every row the store refuses before looking at levels: duplicates (the first row of a key
    // stays), then references the store does not know. The rows found go to a table of their
    // own, and only those rows are marked.
    const refused = sql.unsafe(refusedTable(table))
    const refusals = findRefusals(
      sql,
      table,
      stockKind,
      workMem,
      embedded ? "one connection" : "beside the write"
    )
    const markRefused = sql`update ${t} s set rejection = r.rejection, detail = r.detail from ${refused} r where r.line = s.line`
    // On PGlite (one connection) the rows are checked before the write. On PostgreSQL the check
    // runs on a second connection while the write's transaction goes ahead as if it found
    // nothing (it almost never does): the write keeps one core busy for seconds and leaves the
    // other idle. The transaction commits only once the check found nothing; if it found rows,
    // the transaction is rolled back, the rows are marked and the transaction runs again.
    let unmarked = 0
    const noteRefusals = Effect.tap(refusals, (found) => Effect.sync(() => (unmarked = found)))
    /** Marks the rows the check found, once; says whether it marked any. */
    const markFound = Effect.suspend(() =>
      unmarked === 0
        ? Effect.succeed(false)
        : Effect.as(
            Effect.tap(markRefused, () => (unmarked = 0)),
            true
          )
    )
    /** Fails while the check found rows that are not marked: the transaction may not commit then. */
    const noUnmarkedRefusals = Effect.suspend(() =>
      unmarked > 0 ? Effect.fail(new RefusalsUnmarked()) : Effect.void
    )
    const checkFiber = embedded ? undefined : yield* besideTheWrite(sql, noteRefusals)
    if (checkFiber === undefined) yield* Effect.zipRight(noteRefusals, markFound)
    const checkDone = checkFiber === undefined ? Effect.void : Effect.asVoid(Fiber.join(checkFiber))
    /** Once the check is over: fails if it found rows that are not marked. */
    const checked = Effect.zipRight(checkDone, noUnmarkedRefusals)

    const transaction = Effect.gen(function* () {
      yield* sql.unsafe(`set local work_mem = '${workMem}'`)
      // Each chunk's statement costs enough for PostgreSQL to compile its expressions to machine
      // code first (JIT), unoptimised, and for rows each expression sees once that code ran
      // slower than the interpreter: a million counts wrote in 11.5–12.1 s with it, 8.9–9.6 without.
      yield* sql.unsafe("set local jit = off")
      // The pass above checked every row this transaction writes against products and locations,
      // whose keys are permanent: the levels' own check (migration 0013) would look each up again.
      if (stockKind) yield* sql.unsafe("set local invkit.level_references_checked = 'on'")
      // A retried transaction starts over: the checks under lock are made again.
      yield* sql`
        update ${t} set rejection = null, detail = null
        where rejection is not null and rejection in ('insufficient-stock', 'held-stock', 'too-large')`
      yield* sql`truncate ${low}`
      // Of the import's levels, how many exist (counted as they are locked; not in a dry run).
      let existing: number | undefined
      if (stockKind && !options.dryRun) {
        // The levels this import changes, locked in the order every stock write locks them. A
        // level that does not exist yet is created, in the same order, by the write itself.
        const [locked] = yield* sql<{ existing: number }>`
          select count(*)::int as existing from (
            select 1 from stock_levels l join ${t} s on s.sku = l.sku and s.location = l.location
            where s.rejection is null
            order by l.sku, l.location
            for update of l
          ) locked`
        existing = locked!.existing
      }
      if (kind === "adjustments") {
        // Against the locked levels: below zero, or past the most a level holds, in one pass.
        yield* sql`
          update ${t} s
          set rejection = case when a.amount < 0 then 'insufficient-stock' else 'too-large' end,
              detail = case when a.amount < 0 then a.available::text end
          from (
            select x.line, x.amount, coalesce(l.on_hand - l.reserved, 0) as available,
                   coalesce(l.on_hand, 0)::int8 as on_hand
            from ${t} x left join stock_levels l on l.sku = x.sku and l.location = x.location
            where x.rejection is null
          ) a
          where a.line = s.line
            and ((a.amount < 0 and a.available + a.amount < 0) or (a.amount > 0 and a.on_hand + a.amount > ${MAX_LEVEL}))`
      }
      // A first count: none of its levels exists, so none holds units and each is new.
      const firstCount = kind === "stock" && existing === 0
      if (kind === "stock" && !firstCount) {
        // A count may not leave fewer units than active reservations hold, as a `set` may not,
        // unless the product allows backorders (the rule of internal/stockWrite.ts).
        yield* sql`
          update ${t} s
          set rejection = 'held-stock', detail = h.held::text
          from (
            select x.line, ${heldAt(sql, "l")} as held
            from ${t} x
            join stock_levels l on l.sku = x.sku and l.location = x.location
            join products p on p.sku = x.sku
            where x.rejection is null and not p.allow_backorders
          ) h
          where h.line = s.line and s.amount < h.held`
      }
      // The rows refused (few, through their partial index), and the units they would have moved.
      const [refused] = yield* sql<{ rejected: number; amount: number }>`
        select count(*)::int as rejected, coalesce(sum(amount), 0)::int8 as amount
        from ${t} where rejection is not null`
      const rejected = refused?.rejected ?? 0
      const changes = firstCount
        ? // Every staged row not refused is a new level: what was staged, less what was refused.
          {
            ...noChanges,
            newLevels: (options.staged?.count ?? 0) - rejected,
            totalDelta: (options.staged?.amount ?? 0) - (refused?.amount ?? 0)
          }
        : yield* summarize(sql, t, kind)
      const valid = options.rows - options.rejectedBefore - rejected
      // What a dry run or an abort reports is the rejections: it waits for the check.
      if (options.dryRun || options.abortOnRejection) yield* checked
      if (options.dryRun) return { status: "dry-run" as const, applied: valid, changes }
      if (options.abortOnRejection && options.rejectedBefore + rejected > 0) {
        // Only the staging table's marks are committed: they say which rows were rejected.
        return { status: "aborted" as const, applied: 0, changes: noChanges }
      }
      const claimed = yield* sql`
        insert into imports (id, kind, rows, applied, rejected, summary, actor)
        values (${options.importId}, ${kind}, ${options.rows}, ${valid}, ${options.rejectedBefore + rejected},
                ${JSON.stringify(changes)}::jsonb, ${options.actor})
        on conflict (id) do nothing
        returning id`
      if (claimed.length === 0) {
        // The same import committed meanwhile (this one waited for it on the id's index).
        const stored = yield* findImport(options.importId)
        return { status: "already-imported" as const, stored: stored! }
      }
      // Between chunks: the WAL, and whether the check found rows meanwhile (the write then stops
      // there, rather than write the rest of a file it will write again).
      const chunks: Chunks = {
        lines: APPLY_LINES[database._tag],
        between: Effect.zipRight(releaseWalIfDue, noUnmarkedRefusals)
      }
      const applied = yield* apply(sql, t, low, options, valid, chunks, firstCount)
      if (applied !== valid) return yield* new ConcurrentChange()
      yield* checked
      return { status: "applied" as const, applied, changes }
    })

    const attempt = sql.withTransaction(transaction)
    const written = attempt.pipe(
      // A write over rows the check refuses may fail on its own (a key given twice is a unique
      // violation): whatever the failure, rows the check found are marked and the write runs again.
      Effect.catchAll((error) =>
        Effect.zipRight(checkDone, markFound).pipe(
          Effect.orElse(() => Effect.succeed(false)),
          Effect.flatMap((marked) => (marked ? attempt : Effect.fail(error)))
        )
      ),
      Effect.retry({
        while: (error) => isRetryableConflict(error) || error instanceof ConcurrentChange,
        times: 5
      })
    )
    const outcome = yield* Effect.ensuring(
      written,
      // The check's table, once the check is over, whatever happened.
      Effect.zipRight(
        checkFiber === undefined ? Effect.void : Fiber.await(checkFiber),
        Effect.ignore(sql`drop table if exists ${refused}`)
      )
    )

    // After the commit, as Stock.ts does: the change stands whatever the rule's evaluation does.
    // The write itself noted the levels it left at or below their reorder point.
    if (stockKind && outcome.status === "applied") {
      let after: { sku: string; location: string } | undefined
      while (true) {
        const page = yield* sql<{ sku: string; location: string }>`
          select sku, location from ${low}
          ${after === undefined ? sql`` : sql`where (sku, location) > (${after.sku}, ${after.location})`}
          order by sku, location limit ${PAGE}`
        yield* reorder.evaluateAllAfterWrite(page)
        if (page.length < PAGE) break
        after = page[page.length - 1]!
      }
    }
    yield* releaseWal
    return outcome
  }).pipe(
    Effect.catchIf(
      (error): error is SqlError => error instanceof SqlError,
      (error) => Effect.fail(storeFailure(error))
    ),
    Effect.catchTag("ConcurrentChange", () =>
      Effect.dieMessage("the import kept racing concurrent writers of the same rows; run it again")
    ),
    // Once marked, the rows stay marked: a transaction after that never finds any unmarked.
    Effect.catchTag("RefusalsUnmarked", () => Effect.dieMessage("the import's refused rows were not marked")),
    Effect.provide(ReorderRule.Default)
  )

/** The rejections the database found, in line order, a page at a time. */
export const stagedRejections = (table: string, kind: ImportKind, after: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<StagedRejection>`
      select line, rejection, detail, sku, location, amount, name, unit, reorder_point, reorder_quantity,
             max_level, preferred_supplier, active
      from ${sql.unsafe(table)} where rejection is not null and line > ${after}
      order by line limit ${PAGE}`.pipe(
      Effect.map((rows) => rows.map((row) => describeRejection(kind, row))),
      Effect.mapError(storeFailure)
    )
  )

/**
 * On PGlite, a checkpoint: PostgreSQL in single-user mode never starts one on its own, so the WAL
 * of every row written stays in the data directory (in memory, for an in-memory store) until
 * one runs; after it the segments are recycled. A checkpoint inside the open transaction is
 * allowed and frees the WAL of the chunks before. PostgreSQL's checkpointer needs no help.
 */
const releaseEmbeddedWal = (sql: SqlClient.SqlClient) => Effect.asVoid(sql`checkpoint`)

/** Between chunks, only once enough WAL piled up (internal/walCheckpoint.ts). */
const releaseEmbeddedWalIfDue = (sql: SqlClient.SqlClient) =>
  Effect.flatMap(sql.unsafe<{ due: boolean }>(CHECKPOINT_DUE, [CHECKPOINT_AFTER_BYTES]), ([row]) =>
    row?.due ? releaseEmbeddedWal(sql) : Effect.void
  )

/**
 * The staged rows the store refuses before looking at levels: a key given twice (the first row of
 * a key stays), then a SKU, location or supplier the store does not know. Found by one query into
 * the table `<table>_refused`, created here; answers how many rows it holds.
 *
 * `one connection`: the check runs alone, so it may take both cores. A unique index on the key
 * says at once whether any key repeats (a sort, which PostgreSQL's workers share; grouping a
 * million keys only to find none repeated took twice as long), and the query runs in parallel.
 * `beside the write`: the write's transaction runs meanwhile on one core; the check takes the
 * other one alone (no parallel workers), and groups the keys rather than index them, because an
 * index build waits for the write's lock on the staging table, and the write waits for the check.
 */
const findRefusals = (
  sql: SqlClient.SqlClient,
  table: string,
  stockKind: boolean,
  workMem: string,
  mode: "one connection" | "beside the write"
) =>
  Effect.gen(function* () {
    const t = sql.unsafe(table)
    const keyColumns = stockKind ? ["sku", "location"] : ["sku"]
    const key = sql.unsafe(keyColumns.join(", "))
    // Sorted by bytes ("C"): equal under the database's collation is equal bytes, and comparing
    // bytes is the cheaper sort.
    const byBytes = keyColumns.map((column) => `${column} collate "C"`).join(", ")
    const repeats =
      mode === "beside the write" ||
      (yield* sql
        .withTransaction(
          Effect.zipRight(
            sql.unsafe(`set local maintenance_work_mem = '${workMem}'`),
            sql.unsafe(`create unique index ${table}_key on ${table} (${byBytes})`)
          )
        )
        .pipe(
          Effect.as(false),
          Effect.catchIf(
            (error) => pgCode(error) === "23505",
            () => Effect.succeed(true)
          )
        ))
    // Each refusal as a case and as a condition: filtering on the conditions, rather than on the
    // case being not null, lets the planner see that few rows are refused, and so take a parallel
    // plan (it estimated every row refused, and would not gather a million rows from workers).
    const [unknown, unknownWhere, references] = stockKind
      ? [
          sql`when p.sku is null then 'unknown-sku' when l.code is null then 'unknown-location'`,
          sql`p.sku is null or l.code is null`,
          sql`left join products p on p.sku = s.sku left join locations l on l.code = s.location`
        ]
      : [
          sql`when s.preferred_supplier is not null and x.id is null then 'unknown-supplier'`,
          sql`(s.preferred_supplier is not null and x.id is null)`,
          sql`left join suppliers x on x.id = s.preferred_supplier`
        ]
    const [duplicate, duplicateWhere, duplicates, detail] = repeats
      ? [
          sql`when d.first <> s.line then 'duplicate'`,
          sql`d.first <> s.line or`,
          sql`left join (select ${key}, min(line) as first from ${t} group by ${key} having count(*) > 1) d
                using (${key})`,
          sql`case when d.first <> s.line then d.first::text end`
        ]
      : [sql``, sql``, sql``, sql`null::text`]
    // A query alone, which PostgreSQL may run in parallel (an update never is, nor a query that
    // fills a temporary table, nor an insert), into an unlogged table; the caller marks only the
    // rows found.
    const refused = sql.unsafe(refusedTable(table))
    yield* withWorkMemory(
      sql,
      workMem,
      Effect.zipRight(
        mode === "beside the write"
          ? sql.unsafe("set local max_parallel_workers_per_gather = 0")
          : Effect.void,
        sql`
          create unlogged table ${refused} as
          select s.line, case ${duplicate} ${unknown} end as rejection, ${detail} as detail
          from ${t} s ${duplicates} ${references}
          where ${duplicateWhere} ${unknownWhere}`
      )
    )
    const [found] = yield* sql<{ rows: number }>`select count(*)::int as rows from ${refused}`
    return found?.rows ?? 0
  })

/**
 * Runs `check` in a fiber of its own, in one transaction, and answers once that transaction holds
 * its connection (or the check ended): only then may the write ask for one. A check needs no
 * other connection, so imports running at once never wait for each other in a ring, each write
 * holding a connection of a full pool while its check waits for one.
 */
const besideTheWrite = <A, E, R>(sql: SqlClient.SqlClient, check: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const holding = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(
      sql.withTransaction(Effect.zipRight(Deferred.succeed(holding, undefined), check))
    )
    yield* Effect.raceFirst(Deferred.await(holding), Effect.asVoid(Fiber.await(fiber)))
    return fiber
  })

/** One statement, in a transaction of its own that may sort and hash in memory. */
const withWorkMemory = <A, E, R>(
  sql: SqlClient.SqlClient,
  workMem: string,
  statement: Effect.Effect<A, E, R>
) => sql.withTransaction(Effect.zipRight(sql.unsafe(`set local work_mem = '${workMem}'`), statement))

const summarize = (
  sql: SqlClient.SqlClient,
  t: ReturnType<SqlClient.SqlClient["unsafe"]>,
  kind: ImportKind
) =>
  Effect.gen(function* () {
    if (kind === "products") {
      const [row] = yield* sql<{ newProducts: number; changedProducts: number; unchangedProducts: number }>`
        select count(*) filter (where p.sku is null)::int as new_products,
               count(*) filter (where p.sku is not null and ${sql.unsafe(productDiffers)})::int as changed_products,
               count(*) filter (where p.sku is not null and not ${sql.unsafe(productDiffers)})::int as unchanged_products
        from ${t} s left join products p on p.sku = s.sku
        where s.rejection is null`
      return { ...noChanges, ...row! }
    }
    const after = kind === "stock" ? sql`s.amount` : sql`coalesce(l.on_hand, 0) + s.amount`
    const [row] = yield* sql<{
      newLevels: number
      changedLevels: number
      unchangedLevels: number
      totalDelta: number
    }>`
      select count(*) filter (where l.sku is null)::int as new_levels,
             count(*) filter (where l.sku is not null and l.on_hand <> ${after})::int as changed_levels,
             count(*) filter (where l.sku is not null and l.on_hand = ${after})::int as unchanged_levels,
             coalesce(sum(${after} - coalesce(l.on_hand, 0)), 0)::int8 as total_delta
      from ${t} s left join stock_levels l on l.sku = s.sku and l.location = s.location
      where s.rejection is null`
    return { ...noChanges, ...row! }
  })

/** A staged product row against the stored one; an empty cell keeps the stored value. */
const productDiffers = `(p.name, p.unit, p.reorder_point, p.reorder_quantity, p.max_level, p.preferred_supplier, p.active)
  is distinct from (s.name, coalesce(s.unit, p.unit), coalesce(s.reorder_point, p.reorder_point),
  coalesce(s.reorder_quantity, p.reorder_quantity), coalesce(s.max_level, p.max_level),
  coalesce(s.preferred_supplier, p.preferred_supplier), coalesce(s.active, p.active))`

/**
 * The staging table's statistics, for the plans of the check and the write. On PGlite from a
 * sample of 3,000 rows (a statistics target of 10) rather than PostgreSQL's 30,000: the plans
 * are the same for the import's tables, and the sample's read was 3% of a 100,000-row import.
 */
const analyzeStaging = (sql: SqlClient.SqlClient, table: string, embedded: boolean) =>
  embedded
    ? sql.withTransaction(
        Effect.zipRight(
          sql.unsafe("set local default_statistics_target = 10"),
          sql.unsafe(`analyze ${table}`)
        )
      )
    : sql.unsafe(`analyze ${table}`)

/** The writes; answers how many rows they applied. */
const apply = (
  sql: SqlClient.SqlClient,
  t: ReturnType<SqlClient.SqlClient["unsafe"]>,
  low: ReturnType<SqlClient.SqlClient["unsafe"]>,
  options: LocalImportOptions,
  total: number,
  chunks: Chunks,
  onlyNewLevels: boolean
): Effect.Effect<number, SqlError | ConcurrentChange | RefusalsUnmarked> => {
  if (options.kind === "products") {
    // Every product added or changed is announced, one `product.imported` per 1,000 in SKU
    // order (as `stock.imported` lists levels), so stock readers drop what they cached of them.
    return Effect.flatMap(currentTraceparent, (traceparent) =>
      sql<{ applied: number }>`
      with before as (
        select p.sku, p.active from products p join ${t} s on s.sku = p.sku where s.rejection is null
      ),
      updated as (
        update products p set name = s.name, unit = coalesce(s.unit, p.unit),
          reorder_point = coalesce(s.reorder_point, p.reorder_point),
          reorder_quantity = coalesce(s.reorder_quantity, p.reorder_quantity),
          max_level = coalesce(s.max_level, p.max_level),
          preferred_supplier = coalesce(s.preferred_supplier, p.preferred_supplier),
          active = coalesce(s.active, p.active), updated_at = now()
        from ${t} s
        where s.rejection is null and p.sku = s.sku and ${sql.unsafe(productDiffers)}
        returning p.sku, p.active
      ),
      inserted as (
        insert into products (sku, name, unit, reorder_point, reorder_quantity, max_level, preferred_supplier, active)
        select sku, name, coalesce(unit, 'each'), coalesce(reorder_point, 0), coalesce(reorder_quantity, 0),
               max_level, preferred_supplier, coalesce(active, true)
        from ${t} s
        where s.rejection is null and not exists (select 1 from products p where p.sku = s.sku)
        order by sku
        on conflict (sku) do nothing
        returning sku
      ),
      unchanged as (
        select count(*)::int as n from ${t} s join products p on p.sku = s.sku
        where s.rejection is null and not ${sql.unsafe(productDiffers)}
      ),
      changed as (
        select u.sku, case when b.active and not u.active then 'archived' else 'updated' end as change
        from updated u join before b on b.sku = u.sku
        union all
        select sku, 'created' from inserted
      ),
      event as (${insertEvents(
        sql,
        sql`select 'product.imported' as type, ${options.importId} as subject, jsonb_build_object(
              'importId', ${options.importId}::text, 'actor', ${options.actor}::text, 'at', now(),
              'chunk', chunk + 1,
              'products', jsonb_agg(jsonb_build_object('sku', sku, 'change', change) order by sku)) as data
            from (
              select sku, change, (row_number() over (order by sku) - 1) / ${IMPORTED_CHUNK} as chunk from changed
            ) chunked
            group by chunk
            order by chunk`,
        traceparent
      )})
      select ((select count(*) from updated) + (select count(*) from inserted) + (select n from unchanged))::int as applied`.pipe(
        Effect.map((rows) => rows[0]!.applied),
        Effect.tap((applied) => options.onApplied?.(applied, total))
      )
    )
  }
  return applyStock(sql, t, low, options, total, chunks, onlyNewLevels)
}

/**
 * Lines per statement of the stock write: small enough to report progress every second or so.
 * PGlite's WebAssembly heap grows to the most one statement took and never shrinks: 25,000 lines
 * left it 12 MiB smaller than 50,000 did (44 against 56 MiB resident after 100,000 counts), and
 * the import's peak 282 against 297 MiB (means of four runs each), at the same speed.
 */
const APPLY_LINES = { Postgres: 50_000, Embedded: 25_000 } as const

/** How the stock write goes through the staged lines: so many per statement, and what runs between. */
interface Chunks {
  readonly lines: number
  readonly between: Effect.Effect<void, SqlError | RefusalsUnmarked>
}

/**
 * The stock rows, a chunk of lines at a time, all in the caller's transaction. The levels that
 * exist are locked already (in lock order, before the first chunk); a new level is created by its
 * chunk. Answers how many rows were applied.
 */
const applyStock = (
  sql: SqlClient.SqlClient,
  t: ReturnType<SqlClient.SqlClient["unsafe"]>,
  low: ReturnType<SqlClient.SqlClient["unsafe"]>,
  options: LocalImportOptions,
  total: number,
  chunks: Chunks,
  onlyNewLevels: boolean
) =>
  Effect.gen(function* () {
    // The highest reorder point of any product: a level above it is left low by no rule.
    const [point] = yield* sql<{ highestPoint: number }>`
      select coalesce(max(reorder_point), 0) as highest_point from products`
    const highestPoint = point?.highestPoint ?? 0
    let applied = 0
    let events = 0
    options.onApplied?.(0, total)
    const { staged } = options
    if (staged === undefined || total === 0) return 0
    for (let from = staged.first; from <= staged.last; from += chunks.lines) {
      const chunk = yield* applyStockLines(sql, t, low, options, {
        from,
        to: from + chunks.lines,
        eventsBefore: events,
        onlyNewLevels,
        highestPoint
      })
      applied += chunk.applied
      events += chunk.events
      yield* chunks.between
      options.onApplied?.(applied, total)
    }
    return applied
  })

/**
 * The levels one `stock.imported` event lists (Event.ImportedLevel), in (sku, location) order, as
 * JSON text: concatenated and parsed once per event, which costs a quarter less than a jsonb
 * object built per level (the events were the largest part of the write's floor).
 * The SKU and location are the import's own rows' (a level's key is the key it was written
 * with), each of which passed the code rule (`isCode`, Rules.ts): letters, digits and `-_.:/`,
 * none of which JSON escapes, so they are quoted as they are; `to_json` on each cost a seventh
 * of the events' time. The others are numbers.
 */
const levelListText = (sql: SqlClient.SqlClient) => sql`'[' || string_agg(
  '{"sku":"' || sku || '","location":"' || location || '","delta":' || last_delta
    || ',"onHand":' || on_hand || ',"version":' || version || '}',
  ',' order by sku, location) || ']'`

/**
 * A `stock.imported` event's JSON (Event.StockImported) as one text, parsed into jsonb once:
 * wrapping the parsed list in `jsonb_build_object` decoded and encoded all of it a second time,
 * 100 KB per event (two fifths of the events' cost). The fields every event of the import shares
 * are encoded here, by JSON.stringify.
 */
const importedEventData = (
  sql: SqlClient.SqlClient,
  options: LocalImportOptions,
  reason: string,
  chunk: Statement.Fragment
) => {
  const shared = JSON.stringify({
    importId: options.importId,
    reference: options.reference,
    reason,
    actor: options.actor
  })
  return sql`(${shared.slice(0, -1)}::text || ',"at":' || to_json(now()) || ',"chunk":' || ${chunk}
    || ',"levels":' || ${levelListText(sql)} || '}')::jsonb`
}

interface LinesToWrite {
  /** The chunk: lines [from, to). */
  readonly from: number
  readonly to: number
  /** `stock.imported` events the chunks before wrote. */
  readonly eventsBefore: number
  /** None of the import's levels existed when they were locked: each is inserted, not upserted. */
  readonly onlyNewLevels: boolean
  /** The highest reorder point of any product: a level above it is left low by no rule. */
  readonly highestPoint: number
}

/** The stock rows of lines [from, to): their levels, movements, events, and the levels left low. */
const applyStockLines = (
  sql: SqlClient.SqlClient,
  t: ReturnType<SqlClient.SqlClient["unsafe"]>,
  low: ReturnType<SqlClient.SqlClient["unsafe"]>,
  options: LocalImportOptions,
  { from, to, eventsBefore, onlyNewLevels, highestPoint }: LinesToWrite
) => {
  const rows = sql`${t} where rejection is null and line >= ${from} and line < ${to}`
  const levels =
    options.kind === "stock" && onlyNewLevels
      ? // A first count of these levels (the usual million-row import): plain inserts cost a
        // fifth less than upserts. A level a concurrent writer created since the lock fails the
        // insert as a unique violation, and the import starts over, upserting.
        sql`
        level as (
          insert into stock_levels (sku, location, on_hand, last_delta)
          select sku, location, amount, amount from ${rows} order by sku, location
          returning sku, location, on_hand, reserved, last_delta, version
        )`
      : options.kind === "stock"
        ? sql`
        level as (
          insert into stock_levels as l (sku, location, on_hand, last_delta)
          select sku, location, amount, amount from ${rows} order by sku, location
          on conflict (sku, location) do update
            set on_hand = excluded.on_hand, last_delta = excluded.on_hand - l.on_hand,
                version = l.version + 1, updated_at = now()
          returning sku, location, on_hand, reserved, last_delta, version
        )`
        : sql`
        increase as (
          insert into stock_levels as l (sku, location, on_hand, last_delta)
          select sku, location, amount, amount from ${rows} and amount > 0 order by sku, location
          on conflict (sku, location) do update
            set on_hand = l.on_hand + excluded.on_hand, last_delta = excluded.on_hand,
                version = l.version + 1, updated_at = now()
          returning sku, location, on_hand, reserved, last_delta, version
        ),
        decrease as (
          update stock_levels l
            set on_hand = l.on_hand + s.amount, last_delta = s.amount, version = l.version + 1, updated_at = now()
          from (select * from ${rows} and amount < 0) s
          where l.sku = s.sku and l.location = s.location
            and l.on_hand - l.reserved + s.amount >= 0
          returning l.sku, l.location, l.on_hand, l.reserved, l.last_delta, l.version
        ),
        level as (select * from increase union all select * from decrease)`
  const reason = options.kind === "stock" ? "count" : "adjustment"
  // The level and ledger rows Stock.ts writes per change, for a chunk of lines at once; the events
  // one per 1,000 levels (`stock.imported`, in (sku, location) order) instead of one
  // `stock.updated` per level: a million outbox rows, their UUIDs and JSON were a third of the write.
  return Effect.flatMap(currentTraceparent, (traceparent) =>
    sql<{ applied: number; events: number }>`
    with ${levels},
    movement as (
      insert into stock_movements (sku, location, delta, quantity_after, reason, reference, actor)
      select sku, location, last_delta, on_hand, ${reason}, ${options.reference}, ${options.actor} from level
      returning 1
    ),
    event as (${insertEvents(
      sql,
      sql`select 'stock.imported' as type, ${options.importId} as subject,
            ${importedEventData(sql, options, reason, sql`(chunk + 1 + ${eventsBefore}::int)`)} as data
          from (
            select sku, location, last_delta, on_hand, version,
                   (row_number() over (order by sku, location) - 1) / ${IMPORTED_CHUNK} as chunk
            from level
          ) chunked
          group by chunk
          order by chunk`,
      traceparent
    )}),
    low as (
      -- The point looked up per level (an index probe each), not joined: a join hashed every
      -- product of the store once per chunk, a million of them twenty times for a million rows.
      insert into ${low} (sku, location)
      select n.sku, n.location from level n
      where n.on_hand - n.reserved <= ${highestPoint}
        and n.on_hand - n.reserved <= (select p.reorder_point from products p where p.sku = n.sku)
      returning 1
    )
    select (select count(*) from movement)::int as applied, (select count(*) from event)::int as events`.pipe(
      Effect.map((result) => result[0]!),
      Effect.catchIf(
        (error) => onlyNewLevels && pgCode(error) === "23505",
        () => new ConcurrentChange()
      )
    )
  )
}
