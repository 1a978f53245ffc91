/**
 * Where output goes: data on stdout (so `inv … | jq` and `> file` get only data), everything
 * meant for the person at the terminal on stderr. Whatever is printed passes `printable`, so text
 * from the store or a supplier's feed cannot drive the terminal.
 */
import { escapeControlCharacter, showControlCharacters } from "@invkit/sdk/rules"

// Control characters (C0, DEL, C1): ESC and CSI start escape sequences, CR rewrites the line, BEL
// rings. The first keeps line breaks.
const controls = /[^\P{Cc}\n]/gu

/** Text as it may reach a terminal: control characters escaped, line breaks kept. */
export const printable = (text: string): string => text.replace(controls, escapeControlCharacter)

/** One value on one line (a table cell): a line break would split its row, so it is escaped too. */
export const printableInline = showControlCharacters

/** Set when stdout failed: nothing more is written, and the failure is reported once. */
let stdoutFailure: Error | undefined
/** Told when stdout's reader goes away: what runs until stopped (a worker) stops then. */
const whenStdoutClosed: Array<() => void> = []

const isClosed = (error: Error | undefined) => (error as NodeJS.ErrnoException | undefined)?.code === "EPIPE"

const stdoutFailed = (error: Error): void => {
  if (stdoutFailure !== undefined) return
  stdoutFailure = error
  // The reader went away (`inv … | head -1`): as other tools do, stop quietly and successfully.
  if (isClosed(error)) {
    process.exitCode = 0
    for (const tell of whenStdoutClosed.splice(0)) tell()
    return
  }
  note(`error: cannot write the output (${error.message}); check where stdout goes (a full disk?)`)
  process.exitCode = 1
}

/** Once, at start: stdout's failures end the command as described above, never as a stack trace. */
export const watchStdout = (): void => {
  process.stdout.on("error", stdoutFailed)
  // With stderr gone there is nowhere left to say anything.
  process.stderr.on("error", () => {})
}

/**
 * Resolves once stdout's reader has gone away, as the next write finds out. A one-shot command
 * needs nothing of it (its writes stop, it ends); one that runs until stopped waits for it too.
 */
export const stdoutClosed = (): Promise<void> =>
  new Promise((resolve) => {
    if (isClosed(stdoutFailure)) resolve()
    else whenStdoutClosed.push(resolve)
  })

/** Whether stdout failed or its reader went away: nothing written now reaches anyone. */
export const stdoutGone = (): boolean => stdoutFailure !== undefined

/**
 * Resolves once what was written to stdout has gone out (or stdout failed), and the event loop
 * has looked at it: a reader slower than the store (`| less`) holds the next page back instead
 * of it piling up in memory, and one that has gone away (`| head`) is noticed. The store's
 * answers resolve as promises alone, so without this turn the loop never learnt either.
 */
export const stdoutWritten = (): Promise<void> =>
  new Promise((resolve) => {
    if (stdoutGone() || !process.stdout.writableNeedDrain) {
      setImmediate(resolve)
      return
    }
    const done = () => {
      process.stdout.off("drain", done)
      process.stdout.off("error", done)
      resolve()
    }
    process.stdout.on("drain", done)
    process.stdout.on("error", done)
  })

/** True for the failure of stdout itself, already handled: nothing more to report. */
export const isStdoutFailure = (error: unknown): boolean => error !== undefined && error === stdoutFailure

const writeOut = (text: string): void => {
  if (stdoutFailure !== undefined) return
  try {
    process.stdout.write(text)
  } catch (error) {
    // A file or device as stdout is written synchronously: its failure is thrown here.
    stdoutFailed(error as Error)
  }
}

export const printJson = (value: unknown): void => {
  writeOut(`${printable(JSON.stringify(value, null, 2))}\n`)
}

export const printLine = (text: string): void => {
  writeOut(`${printable(text)}\n`)
}

/** Text as it is, without a line break of its own (a listing printed in parts). */
export const printText = (text: string): void => {
  writeOut(printable(text))
}

export const note = (text: string): void => {
  process.stderr.write(`${printable(text)}\n`)
}

/** `+3`, `-3`: a change reads better signed. */
export const signed = (delta: number): string => (delta > 0 ? `+${delta}` : String(delta))

export const timestamp = (at: Date | string): string => new Date(at).toISOString()
