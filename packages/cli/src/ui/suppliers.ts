import type { Supplier, SupplierSync, SyncJobs } from "@invkit/sdk"
import { type MappableField, mappableFields } from "../options/connector.js"
import { printJson, printLine, timestamp } from "./output.js"
import { columns, renderRecord, renderTable } from "./table.js"

type Connector = Supplier.Supplier["connector"]

const feedOf = (connector: Connector): string =>
  connector.type === "http-json" ? connector.url : connector.source

/** In the order a person fills the mapping in, not the store's. */
const mappingOf = (connector: Connector): string => {
  const mapping: Partial<Record<MappableField, string>> =
    connector.type === "http-json" ? connector.fields : connector.columns
  return mappableFields
    .flatMap(([field]) => (mapping[field] === undefined ? [] : [`${field}=${mapping[field]}`]))
    .join(", ")
}

/** The value is whatever the SDK answered: `***`, as it never gives the key back. */
const apiKeyOf = (connector: Connector): string =>
  connector.apiKey === undefined
    ? "none"
    : `${connector.apiKey.in} ${connector.apiKey.name}: ${connector.apiKey.value}`

export const printSupplier = (supplier: Supplier.Supplier, json: boolean | undefined): void => {
  if (json) {
    printJson(supplier)
    return
  }
  const { connector } = supplier
  printLine(
    renderRecord([
      ["id", supplier.id],
      ["name", supplier.name],
      ["feed", connector.type === "http-json" ? "HTTP JSON" : "CSV"],
      [connector.type === "http-json" ? "url" : "source", feedOf(connector)],
      ...(connector.type === "http-json"
        ? [
            [
              "items path",
              connector.itemsPath === "" ? "(the answer is the array)" : connector.itemsPath
            ] as const
          ]
        : [["delimiter", connector.delimiter] as const]),
      ["mapping", mappingOf(connector)],
      ["API key", apiKeyOf(connector)],
      ["timeout", `${connector.timeoutMs} ms`],
      ["schedule", supplier.schedule ?? "none"],
      ["create missing products", supplier.createMissingProducts ? "yes" : "no"],
      ["lead time", `${supplier.leadTimeDays} days`],
      ["status", supplier.active ? "active" : "inactive"],
      ["updated", timestamp(supplier.updatedAt)]
    ])
  )
}

export const renderSuppliers = columns<Supplier.Supplier>(
  ["id", "name", "feed", "url or source", "API key", "schedule", "status"],
  (s) => [
    s.id,
    s.name,
    s.connector.type,
    feedOf(s.connector),
    apiKeyOf(s.connector),
    s.schedule ?? "",
    s.active ? "active" : "inactive"
  ]
)

const orBlank = (value: string | number | null): string | number => value ?? ""

export const renderSupplierItems = columns<Supplier.SupplierItem>(
  ["supplier SKU", "SKU", "name", "availability", "unit cost", "min order", "pack", "lead days", "status"],
  (i) => [
    i.supplierSku,
    orBlank(i.sku),
    orBlank(i.name),
    orBlank(i.availability),
    orBlank(i.unitCost),
    i.minOrderQty,
    i.packSize,
    orBlank(i.leadTimeDays),
    i.active ? "active" : "gone"
  ]
)

export const renderSyncRuns = columns<SupplierSync.SyncRun>(
  [
    "run",
    "trigger",
    "attempt",
    "status",
    "added",
    "updated",
    "unchanged",
    "deactivated",
    "rejected",
    "started",
    "error"
  ],
  (r) => [
    r.id,
    r.trigger,
    r.attempt,
    r.status,
    r.added,
    r.updated,
    r.unchanged,
    r.deactivated,
    r.rejected,
    timestamp(r.startedAt),
    r.error ?? ""
  ]
)

export const renderRejections = (rejections: ReadonlyArray<typeof SupplierSync.Rejection.Type>): string =>
  renderTable(
    ["position", "supplier SKU", "field", "message"],
    rejections.map((r) => [r.position, r.supplierSku ?? "", r.field, r.message])
  )

/** A finished run: its counts, then the items it skipped and why. */
export const printSyncRun = (run: SupplierSync.SyncRun, json: boolean | undefined): void => {
  if (json) {
    printJson(run)
    return
  }
  printLine(
    renderRecord([
      ["status", run.status],
      ["added", run.added],
      ["updated", run.updated],
      ["unchanged", run.unchanged],
      ["deactivated", run.deactivated],
      ["rejected", run.rejected],
      ["run", run.id]
    ])
  )
  if (run.rejections.length > 0) printLine(`\n${renderRejections(run.rejections)}`)
}

/** A sync of several: one line per supplier, with its run's counts, its job, or why it failed. */
export const printSyncOutcomes = (result: SupplierSync.SyncManyResult, json: boolean | undefined): void => {
  if (json) {
    printJson(result)
    return
  }
  if (result.results.length === 0) return
  printLine(
    renderTable(
      ["supplier", "outcome", "added", "updated", "deactivated", "rejected", "run / job / error"],
      result.results.map((outcome) =>
        outcome.outcome === "synced"
          ? [
              outcome.supplierId,
              outcome.run.status,
              outcome.run.added,
              outcome.run.updated,
              outcome.run.deactivated,
              outcome.run.rejected,
              `run ${outcome.run.id}`
            ]
          : outcome.outcome === "queued"
            ? [outcome.supplierId, "queued", "", "", "", "", `job ${outcome.jobId}`]
            : [outcome.supplierId, "failed", "", "", "", "", `${outcome.error}: ${outcome.message}`]
      )
    )
  )
}

/** What a connector reads from the live feed: the count, the first items, the first rejections. */
export const renderPreview = (preview: SupplierSync.CatalogPreview): string =>
  [
    `${preview.total} items in the feed, ${preview.rejected} rejected.`,
    ...(preview.items.length > 0
      ? [
          renderTable(
            ["supplier SKU", "SKU", "name", "availability", "unit cost", "min order", "pack", "lead days"],
            preview.items.map((i) => [
              i.supplierSku,
              orBlank(i.sku),
              orBlank(i.name),
              orBlank(i.availability),
              orBlank(i.unitCost),
              orBlank(i.minOrderQty),
              orBlank(i.packSize),
              orBlank(i.leadTimeDays)
            ])
          )
        ]
      : []),
    ...(preview.rejections.length > 0 ? ["", renderRejections(preview.rejections)] : [])
  ].join("\n")

/** One line per worker event, for a log: when, which supplier, what happened. */
export const workerEventLine = (event: SyncJobs.WorkerEvent): string => {
  const at = new Date().toISOString()
  const what = {
    scheduled: () => "scheduled sync queued",
    started: () => `sync started (attempt ${event.attempt})`,
    succeeded: () => {
      const run = event.run
      return run === undefined
        ? "sync succeeded"
        : `sync ${run.status}: ${run.added} added, ${run.updated} updated, ${run.unchanged} unchanged, ${run.deactivated} deactivated, ${run.rejected} rejected (run ${run.id})`
    },
    retrying: () =>
      `attempt ${event.attempt} failed, retrying in ${((event.delayMs ?? 0) / 1000).toFixed(1)} s: ${event.reason ?? ""}`,
    failed: () => `sync failed (attempt ${event.attempt}): ${event.reason ?? ""}`
  }[event.type]()
  return `${at} ${event.supplierId}: ${what}`
}
