/**
 * The import's progress on stderr, through its phases: reading (rows read, rows per second and,
 * for a file, the time left from the bytes still to read), checking, then applying (rows written
 * of the rows that passed, rows per second). On a terminal, one line rewritten in place; in a
 * pipe or a log that line would be noise, so nothing is drawn. With --json, one
 * `{"progress":{…}}` object per line instead, on a terminal or not, at most one a second per
 * phase (and each phase's first and the write's last), for a program that watches the import.
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

const count = (n: number) => n.toLocaleString("en")

/** Rows per second since each phase began, and whether a report is due (at most one a second). */
const progressClock = (interval: number) => {
  let phase: Import.ImportProgress["phase"] | undefined
  let phaseStarted = Date.now()
  let reportedAt = 0
  return (progress: Import.ImportProgress) => {
    const now = Date.now()
    const first = progress.phase !== phase
    if (first) {
      // Reading starts with the import, before its first report.
      if (phase !== undefined) phaseStarted = now
      phase = progress.phase
    }
    const last = progress.phase === "applying" && progress.applied === progress.total
    const due = first || last || now - reportedAt >= interval
    if (due) reportedAt = now
    const elapsed = Math.max(0.001, (now - phaseStarted) / 1000)
    const done = progress.phase === "applying" ? (progress.applied ?? 0) : progress.rows
    return { due, elapsed, rowsPerSecond: Math.round(done / elapsed) }
  }
}

export const importProgressDisplay = (
  totalBytes: number | undefined,
  json: boolean
): ImportProgressDisplay => {
  const stderr = process.stderr
  if (json) {
    const clock = progressClock(1_000)
    return {
      onProgress: (progress) => {
        const { due, rowsPerSecond } = clock(progress)
        if (!due) return
        const { phase, rows, bytes, applied, total } = progress
        note(
          JSON.stringify({
            progress: {
              phase,
              rows,
              bytes,
              ...(phase === "applying" ? { applied, total } : {}),
              rowsPerSecond
            }
          })
        )
      },
      print: note,
      stop: () => {}
    }
  }
  if (!stderr.isTTY) return { onProgress: undefined, print: note, stop: () => {} }
  const clock = progressClock(200)
  let text = "Importing…"
  const draw = () => stderr.write(`\r\x1b[2K${text}`)
  return {
    onProgress: (progress) => {
      const { due, elapsed, rowsPerSecond } = clock(progress)
      if (!due) return
      if (progress.phase === "checking") {
        text = `Importing: ${count(progress.rows)} rows read; checking them…`
      } else if (progress.phase === "applying") {
        text = `Importing: applying ${count(progress.applied ?? 0)} of ${count(progress.total ?? 0)} rows, ${count(rowsPerSecond)} rows/s`
      } else {
        const left =
          totalBytes && progress.bytes > 0
            ? `, about ${seconds((elapsed * (totalBytes - progress.bytes)) / progress.bytes)} left to read`
            : ""
        text = `Importing: ${count(progress.rows)} rows, ${count(rowsPerSecond)} rows/s${left}`
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
