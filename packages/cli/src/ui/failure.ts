import { exitCodeFor, tagOf } from "../exitCodes.js"
import { hintFor } from "./hints.js"
import { note } from "./output.js"

/** The error's own data (sku, field, available, …), so scripts need not parse the message. */
const detailsOf = (error: unknown): Record<string, unknown> =>
  error !== null && typeof error === "object"
    ? Object.fromEntries(
        Object.entries(error).filter(([key]) => !["_tag", "message", "stack", "cause"].includes(key))
      )
    : {}

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : String(error)

/**
 * Prints the error on stderr and sets the exit code. With --json, stderr holds exactly one JSON
 * object, `{"error":{"code":…,"message":…,…details}}`, so a script can parse it whole.
 */
export const reportFailure = (error: unknown, json: boolean): void => {
  const hint = hintFor(tagOf(error), detailsOf(error))
  const message = hint === undefined ? messageOf(error) : `${messageOf(error)} (${hint})`
  if (json) {
    const code = tagOf(error) ?? "UnexpectedError"
    note(JSON.stringify({ error: { code, message, ...detailsOf(error) } }))
  } else {
    note(`error: ${message}`)
  }
  process.exitCode = exitCodeFor(error)
}
