import type { Command } from "commander"
import { exitCodeFor, tagOf } from "../exitCodes.js"
import { commandLineName, ruleOnCommandLine } from "./fieldNames.js"
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
 * An InvalidInput (the SDK's or the CLI's own) with its field, and the fields its rule names, as
 * the running command spells them. A field the command line has no name for (the SDK's `patch`)
 * is left out when the rule names the flags instead.
 */
const refusedValue = (error: unknown, command: Command | undefined) => {
  const { field, rule, mentions } = error as { field?: unknown; rule?: unknown; mentions?: unknown }
  if (tagOf(error) !== "InvalidInput" || typeof field !== "string" || typeof rule !== "string")
    return undefined
  if (command === undefined) return { field, rule, said: `${field}: ${rule}` }
  const named = Array.isArray(mentions) ? mentions.filter((name) => typeof name === "string") : []
  const typed = commandLineName(field, command)
  const wordedRule = ruleOnCommandLine(rule, named, command)
  return {
    field: typed ?? field,
    rule: wordedRule,
    said: typed === undefined && named.length > 0 ? wordedRule : `${typed ?? field}: ${wordedRule}`
  }
}

/**
 * Prints the error on stderr and sets the exit code. With --json, stderr holds exactly one JSON
 * object, `{"error":{"code":…,"message":…,…details}}`, so a script can parse it whole. A refused
 * value names the flag or argument of `command` (the one running), not the SDK's field.
 */
export const reportFailure = (error: unknown, json: boolean, command?: Command): void => {
  const refused = refusedValue(error, command)
  const hint = hintFor(tagOf(error), detailsOf(error))
  const said = refused ? refused.said : messageOf(error)
  const message = hint === undefined ? said : `${said} (${hint})`
  if (json) {
    const code = tagOf(error) ?? "UnexpectedError"
    const fields = refused === undefined ? {} : { field: refused.field, rule: refused.rule }
    note(JSON.stringify({ error: { code, message, ...detailsOf(error), ...fields } }))
  } else {
    note(`error: ${message}`)
  }
  process.exitCode = exitCodeFor(error)
}
