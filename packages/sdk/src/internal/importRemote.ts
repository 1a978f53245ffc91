/**
 * The import over the public interface alone, for an `Inventory` that is not a local store (an
 * `inv-server`): stock changes in batches of at most 1000 (`stock.batch`), each with an
 * idempotency key derived from the import id and the batch's content, so a retry or a second run
 * within the key retention (24 hours) applies nothing twice; products one call each.
 */
import { createHash } from "node:crypto"
import type { Inventory } from "../Inventory.js"
import { InvalidInput } from "../InventoryError.js"
import { type BatchChange, MAX_BATCH } from "../Stock.js"
import type { AdjustmentRow, CountRow, ImportKind, ProductRow, Rejection, ValidRow } from "./importRows.js"
import { type ImportChanges, noChanges } from "./importStore.js"

interface Pending {
  readonly line: number
  readonly row: ValidRow
}

export interface RemoteImportOptions {
  readonly kind: ImportKind
  readonly importId: string
  readonly reference: string
  readonly dryRun: boolean
  /** Stop at the first row the server refuses (Import.ts checks every batch with a dry run first). */
  readonly abortOnRejection: boolean
  readonly reject: (rejection: Rejection) => void
}

const tagOf = (error: unknown) => (error as { _tag?: string } | null)?._tag

const rowOf = (kind: ImportKind, row: ValidRow): Record<string, unknown> =>
  kind === "products"
    ? { ...row }
    : {
        sku: row.sku,
        location: (row as CountRow).location,
        [kind === "stock" ? "quantity" : "delta"]:
          kind === "stock" ? (row as CountRow).quantity : (row as AdjustmentRow).delta
      }

/** Which pending row a batch failure is about, and how to tell it. */
const refusal = (kind: ImportKind, error: unknown, batch: ReadonlyArray<Pending>) => {
  const e = error as Record<string, any>
  const find = (test: (p: Pending) => boolean) => batch.findIndex(test)
  switch (tagOf(error)) {
    case "ProductNotFound":
      return {
        index: find((p) => p.row.sku === e.sku),
        column: "sku",
        code: "unknown-sku" as const,
        message: `sku: no product ${e.sku}; import it as a product first, or correct the SKU`
      }
    case "LocationNotFound":
      return {
        index: find((p) => (p.row as CountRow).location === e.location),
        column: "location",
        code: "unknown-location" as const,
        message: `location: no location ${e.location}; add it first, or correct it`
      }
    case "InsufficientStock":
      return {
        index: find((p) => p.row.sku === e.sku && (p.row as CountRow).location === e.location),
        column: "delta",
        code: "insufficient-stock" as const,
        message: `delta: ${e.sku} at ${e.location} has ${e.available} available, ${e.requested} requested; stock cannot go below zero`
      }
    case "InvalidInput": {
      const match = /^changes\[(\d+)\]\.(\w+)$/.exec(String(e.field))
      if (!match) return undefined
      return {
        index: Number(match[1]),
        column: match[2]!,
        code: "too-large" as const,
        message: `${match[2]}: ${e.rule}`
      }
    }
    default:
      return kind === "products" ? undefined : undefined
  }
}

export const remoteImporter = (inventory: Inventory, options: RemoteImportOptions) => {
  const { kind } = options
  const changes: { -readonly [K in keyof ImportChanges]: ImportChanges[K] } = { ...noChanges }
  let applied = 0
  let stopped = false
  let batch: Array<Pending> = []

  const sendBatch = async (pending: Array<Pending>) => {
    while (pending.length > 0 && !stopped) {
      const batchChanges: Array<BatchChange> = pending.map(({ row }) =>
        kind === "stock"
          ? {
              type: "set",
              sku: row.sku,
              location: (row as CountRow).location,
              quantity: (row as CountRow).quantity
            }
          : {
              type: "adjust",
              sku: row.sku,
              location: (row as AdjustmentRow).location,
              delta: (row as AdjustmentRow).delta
            }
      )
      const key = `import:${options.importId}:${createHash("sha256").update(JSON.stringify(batchChanges)).digest("hex")}`
      try {
        // A dry run asks the server what the batch would do, with the store's own checks.
        const result = await inventory.stock.batch(batchChanges, {
          reference: options.reference,
          idempotencyKey: key,
          dryRun: options.dryRun
        })
        for (const change of result.changes) {
          applied += 1
          changes.totalDelta += change.delta
          // A level's first version is the one its first change creates.
          if (change.version === 1) changes.newLevels += 1
          else if (change.delta !== 0) changes.changedLevels += 1
          else changes.unchangedLevels += 1
        }
        return
      } catch (error) {
        const refused = refusal(kind, error, pending)
        if (refused === undefined || refused.index < 0) throw error
        const [bad] = pending.splice(refused.index, 1)
        options.reject({
          line: bad!.line,
          column: refused.column,
          code: refused.code,
          message: refused.message,
          row: rowOf(kind, bad!.row)
        })
        if (options.abortOnRejection) stopped = true
      }
    }
  }

  const addProduct = async (line: number, row: ProductRow) => {
    const existing = await inventory.products.get(row.sku).catch((error: unknown) => {
      if (tagOf(error) === "ProductNotFound") return undefined
      throw error
    })
    const { sku, ...fields } = row
    const given = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))
    if (existing === undefined) {
      changes.newProducts += 1
      if (!options.dryRun) await inventory.products.add({ sku, name: row.name, ...given })
    } else if (
      Object.entries(given).some(([field, value]) => (existing as Record<string, unknown>)[field] !== value)
    ) {
      changes.changedProducts += 1
      if (!options.dryRun) await inventory.products.update(sku, given)
    } else {
      changes.unchangedProducts += 1
    }
    applied += 1
    void line
  }

  return {
    get stopped() {
      return stopped
    },
    add: async (line: number, row: ValidRow) => {
      if (stopped) return
      if (kind === "products") return addProduct(line, row as ProductRow)
      batch.push({ line, row })
      if (batch.length >= MAX_BATCH) {
        const full = batch
        batch = []
        await sendBatch(full)
      }
    },
    finish: async () => {
      if (batch.length > 0) await sendBatch(batch)
      batch = []
      return { applied, changes: changes as ImportChanges }
    }
  }
}

export const requireKnownKind = (kind: string | undefined): void => {
  if (kind !== undefined && !["products", "stock", "adjustments"].includes(kind)) {
    throw new InvalidInput({ field: "kind", rule: "must be one of products, stock, adjustments" })
  }
}
