/**
 * Where output goes: data on stdout (so `inv … | jq` and `> file` get only data), everything
 * meant for the person at the terminal on stderr.
 */

export const printJson = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}

export const printLine = (text: string): void => {
  process.stdout.write(`${text}\n`)
}

export const note = (text: string): void => {
  process.stderr.write(`${text}\n`)
}

/** `+3`, `-3`: a change reads better signed. */
export const signed = (delta: number): string => (delta > 0 ? `+${delta}` : String(delta))

export const timestamp = (at: Date | string): string => new Date(at).toISOString()
