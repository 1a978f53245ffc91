import { SyncFailed } from "@invkit/sdk"
import { supplierIdArgument } from "../../options/promptedValues.js"
import { type GlobalOptions, resolveTarget, withInventory } from "../../session.js"
import { note, printJson } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printSyncRun } from "../../ui/suppliers.js"
import { syncProgressDisplay } from "../../ui/syncProgress.js"

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

export const run = async (idText: string | undefined, options: GlobalOptions): Promise<void> => {
  const id = await askIfMissing(idText, supplierIdArgument)
  if (resolveTarget(options)._tag === "Remote") {
    // A server's supplier-sync workers run syncs; the CLI queues one and says where it will show.
    const jobId = await withInventory(options, (inventory) => inventory.suppliers.enqueue(id))
    if (options.json) printJson({ supplierId: id, queued: true, jobId })
    else
      note(`Queued a sync of ${id} on the server (job ${jobId}); its run shows in inv supplier runs ${id}.`)
    return
  }
  const progress = syncProgressDisplay(id)
  const syncRun = await withInventory(options, (inventory) =>
    inventory.suppliers.sync(id, { onProgress: progress.onProgress })
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
