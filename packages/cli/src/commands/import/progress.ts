/**
 * The import's progress line on stderr: rows read, rows per second and, for a file, the time
 * left from the bytes still to read. Only on a terminal and without --json: in a pipe or a log
 * the rewritten line would be noise, and the result says everything.
 */
import type { Import } from "@invkit/sdk"
import { note, printable } from "../../ui/output.js"

export interface ImportProgressDisplay {
  readonly onProgress: ((progress: Import.ImportProgress) => void) | undefined
  /** Writes a line above the progress line (a rejection), keeping the progress line below it. */
  readonly print: (line: string) => void
  readonly stop: () => void
}

const seconds = (s: number) =>
  s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`

export const importProgressDisplay = (
  totalBytes: number | undefined,
  json: boolean
): ImportProgressDisplay => {
  const stderr = process.stderr
  if (!stderr.isTTY || json) {
    return { onProgress: undefined, print: note, stop: () => {} }
  }
  const started = Date.now()
  let text = "Importing…"
  let drawnAt = 0
  const draw = () => stderr.write(`\r\x1b[2K${text}`)
  return {
    onProgress: (progress) => {
      const now = Date.now()
      if (progress.phase === "reading" && now - drawnAt < 200) return
      drawnAt = now
      const elapsed = Math.max(0.001, (now - started) / 1000)
      const rate = Math.round(progress.rows / elapsed)
      if (progress.phase === "applying") {
        text = `Importing: ${progress.rows.toLocaleString("en")} rows read; checking and applying them…`
      } else {
        const left =
          totalBytes && progress.bytes > 0
            ? `, about ${seconds((elapsed * (totalBytes - progress.bytes)) / progress.bytes)} left to read`
            : ""
        text = `Importing: ${progress.rows.toLocaleString("en")} rows, ${rate.toLocaleString("en")} rows/s${left}`
      }
      draw()
    },
    print: (line) => {
      stderr.write(`\r\x1b[2K${printable(line)}\n`)
      draw()
    },
    stop: () => stderr.write("\r\x1b[2K")
  }
}
