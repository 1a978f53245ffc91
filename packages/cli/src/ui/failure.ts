import type { Command } from "commander"
import { exitCodeFor, tagOf } from "../exitCodes.js"
import { nameOnCommandLine } from "./fieldNames.js"
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

/** An InvalidInput (the SDK's or the CLI's own) with its field as the running command spells it. */
const refusedValue = (error: unknown, command: Command | undefined) => {
  const { field, rule } = error as { field?: unknown; rule?: unknown }
  return tagOf(error) === "InvalidInput" && typeof field === "string" && typeof rule === "string"
    ? { field: command === undefined ? field : nameOnCommandLine(field, command), rule }
    : undefined
}

/**
 * Prints the error on stderr and sets the exit code. With --json, stderr holds exactly one JSON
 * object, `{"error":{"code":…,"message":…,…details}}`, so a script can parse it whole. A refused
 * value names the flag or argument of `command` (the one running), not the SDK's field.
 */
export const reportFailure = (error: unknown, json: boolean, command?: Command): void => {
  const refused = refusedValue(error, command)
  const hint = hintFor(tagOf(error), detailsOf(error))
  const said = refused ? `${refused.field}: ${refused.rule}` : messageOf(error)
  const message = hint === undefined ? said : `${said} (${hint})`
  if (json) {
    const code = tagOf(error) ?? "UnexpectedError"
    note(JSON.stringify({ error: { code, message, ...detailsOf(error), ...refused } }))
  } else {
    note(`error: ${message}`)
  }
  process.exitCode = exitCodeFor(error)
}
