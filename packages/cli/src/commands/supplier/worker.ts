import { InvalidInput } from "@invkit/sdk"
import { numberArgument } from "../../numberArgument.js"
import { type GlobalOptions, requireLocalStore, withInventory } from "../../session.js"
import { note, printLine, stdoutClosed } from "../../ui/output.js"
import { workerEventLine } from "../../ui/suppliers.js"

export interface SupplierWorkerOptions extends GlobalOptions {
  readonly concurrency: string
}

const stopSignals = ["SIGINT", "SIGTERM"] as const

/**
 * Resolves on the first SIGINT or SIGTERM. Listening replaces Node's default of dying at once,
 * so the worker can let running syncs finish; a second signal gives up waiting (exit 130).
 */
const firstStopSignal = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => {
    let received = 0
    for (const signal of stopSignals) {
      process.on(signal, () => {
        received += 1
        if (received === 1) resolve(signal)
        else process.exit(130)
      })
    }
  })

export const run = async (options: SupplierWorkerOptions): Promise<void> => {
  requireLocalStore(
    options,
    "inv supplier worker",
    "the server's supplier-sync service is the worker there (inv-server supplier-sync)"
  )
  const concurrency = numberArgument(options.concurrency, "concurrency")
  // The SDK hands this to the job queue unchecked.
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 100) {
    throw new InvalidInput({ field: "concurrency", rule: "must be a whole number between 1 and 100" })
  }
  // Listening before the store opens: a signal during start-up still stops the worker cleanly.
  const stopRequested = firstStopSignal()
  let quiet = false
  await withInventory(
    options,
    async (inventory) => {
      const worker = await inventory.suppliers.worker({
        concurrency,
        onEvent: (event) => {
          note(workerEventLine(event))
          if (options.json) printLine(JSON.stringify(event))
        }
      })
      note(
        `Worker running (${inventory.store}, concurrency ${concurrency}): it runs queued and scheduled syncs. Stop it with Ctrl-C.`
      )
      // With --json its events are its output: once their reader has gone (`| head -1`), so has its purpose.
      const stop = await Promise.race([stopRequested, stdoutClosed().then(() => "closed" as const)])
      if (stop === "closed") {
        quiet = true
      } else {
        note(`${stop}: stopping; running syncs finish first (send it again to stop at once).`)
      }
      await worker.stop()
    },
    { longLived: true }
  )
  // A closed stdout ends it as it ends any command: quietly, exit 0.
  if (!quiet) note("Worker stopped.")
}
