/**
 * A one-line spinner on stderr while a sync runs, showing its phase. Only on a terminal: in a
 * pipe or a log file the rewritten line would be noise, and the result says everything.
 */
import type { SupplierSync } from "@invkit/sdk"

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

export interface SyncProgressDisplay {
  readonly onProgress: ((progress: SupplierSync.SyncProgress) => void) | undefined
  /** Clears the line; call when the sync ended, however it ended. */
  readonly stop: () => void
}

const describe = (supplierId: string, progress: SupplierSync.SyncProgress): string => {
  const rejected = progress.rejected ? `, ${progress.rejected} rejected` : ""
  switch (progress.phase) {
    case "fetching":
      return `Syncing ${supplierId}: fetching the catalog…`
    case "validating":
      return `Syncing ${supplierId}: checking ${progress.items ?? 0} items…`
    case "saving":
      return `Syncing ${supplierId}: saving ${progress.items ?? 0} items${rejected}…`
    case "done":
      return `Syncing ${supplierId}: done`
  }
}

export const syncProgressDisplay = (supplierId: string): SyncProgressDisplay => {
  const stderr = process.stderr
  if (!stderr.isTTY) return { onProgress: undefined, stop: () => {} }
  let text = `Syncing ${supplierId}…`
  let frame = 0
  const draw = () => {
    stderr.write(`\r\x1b[2K${frames[frame % frames.length]} ${text}`)
    frame += 1
  }
  draw()
  const timer = setInterval(draw, 80)
  // The spinner alone must not keep `inv` running.
  timer.unref()
  return {
    onProgress: (progress) => {
      text = describe(supplierId, progress)
      draw()
    },
    stop: () => {
      clearInterval(timer)
      stderr.write("\r\x1b[2K")
    }
  }
}
