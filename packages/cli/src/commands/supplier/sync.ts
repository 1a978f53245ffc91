import { type SupplierSync, SyncFailed } from "@invkit/sdk"
import { supplierIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, resolveTarget, withInventory } from "../../session.js"
import { note, printJson } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printSyncOutcomes, printSyncRun } from "../../ui/suppliers.js"
import { syncProgressDisplay } from "../../ui/syncProgress.js"
import { UsageError } from "../../usageError.js"

/**
 * SyncFailed as a foreground sync reports it. The SDK's message promises a retry for a
 * temporary failure, which only a worker makes; here nobody retries, so it says to try again.
 */
class ForegroundSyncFailed extends Error {
  readonly _tag = "SyncFailed"
  readonly supplierId: string
  readonly runId: number | null
  readonly reason: string
  readonly transient: boolean
  readonly retryAfterMs?: number

  constructor(failure: SyncFailed) {
    super(
      `Sync of supplier "${failure.supplierId}" failed: ${failure.reason}${failure.transient ? " (temporary: try again later)" : ""}`
    )
    this.supplierId = failure.supplierId
    this.runId = failure.runId
    this.reason = failure.reason
    this.transient = failure.transient
    if (failure.retryAfterMs !== undefined) this.retryAfterMs = failure.retryAfterMs
  }
}

/** Some suppliers of a sync of several failed: exit 6 as a failed sync, after every outcome was shown. */
class SomeSyncsFailed extends Error {
  readonly _tag = "SyncFailed"
  constructor(result: SupplierSync.SyncManyResult) {
    const failed = result.results.filter((outcome) => outcome.outcome === "failed")
    super(
      `${failed.length} of ${result.results.length} supplier sync(s) failed: ${failed.map((outcome) => outcome.supplierId).join(", ")}; see above, then fix those suppliers and sync them again`
    )
  }
}

export const run = async (
  ids: ReadonlyArray<string>,
  options: GlobalOptions & { readonly all?: boolean | undefined }
): Promise<void> => {
  if (options.all && ids.length > 0) {
    throw new UsageError("name the suppliers to sync, or pass --all for every active one, not both")
  }
  if (options.all || ids.length > 1)
    return syncMany(options.all ? { all: true } : { supplierIds: ids }, options)
  const id = await askIfMissing(ids[0], supplierIdArgument)
  if (resolveTarget(options)._tag === "Remote") {
    // A server's supplier-sync workers run syncs; the CLI queues one and says where it will show.
    const jobId = await withInventory(options, (inventory) => inventory.suppliers.enqueue(id))
    if (options.json) printJson({ supplierId: id, queued: true, jobId })
    else
      note(`Queued a sync of ${id} on the server (job ${jobId}); its run shows in inv supplier runs ${id}.`)
    return
  }
  const progress = syncProgressDisplay(id)
  // Here, not in the store process: a feed is read from this directory, with this environment.
  const syncRun = await withInventory(
    options,
    (inventory) => inventory.suppliers.sync(id, { onProgress: progress.onProgress }),
    { here: true }
  )
    .catch((error: unknown) => {
      throw error instanceof SyncFailed ? new ForegroundSyncFailed(error) : error
    })
    .finally(progress.stop)
  printSyncRun(syncRun, options.json)
  if (!options.json) {
    note(
      syncRun.status === "partial"
        ? `Synced ${id}, but ${syncRun.rejected} item(s) were rejected and skipped: see above.`
        : `Synced ${id}.`
    )
  }
}

const syncMany = async (selection: SupplierSync.SyncSelection, options: GlobalOptions): Promise<void> => {
  const result = await withInventory(options, (inventory) => inventory.suppliers.syncMany(selection), {
    here: true
  })
  printSyncOutcomes(result, options.json)
  if (result.failed > 0) throw new SomeSyncsFailed(result)
  if (!options.json) {
    note(
      result.results.length === 0
        ? "No active suppliers to sync."
        : result.results[0]?.outcome === "queued"
          ? `Queued ${result.results.length} sync(s) on the server; their runs show in inv supplier runs <id>.`
          : `Synced ${result.results.length} supplier(s).`
    )
  }
}
