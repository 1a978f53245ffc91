/**
 * Where an inventory is opened: a server, a PostgreSQL database, or the embedded store in a data
 * directory, from the caller's options and the environment. The rule is defined here once;
 * `Inventory.resolveTarget` reads the variables through Effect's `Config` and applies it.
 *
 * This module imports nothing but Node's `os` and `path` (also published as `@invkit/sdk/target`), so
 * the CLI can decide where a command works without loading Effect or the rest of the SDK.
 */
import { homedir } from "node:os"
import { join } from "node:path"

/** A value and what set it: an option (under the name the caller gives it), or a variable. */
export interface Setting {
  readonly value: string
  readonly source: string
}

/** Where `openInventory` works: a server, a PostgreSQL database, or the embedded store. */
export type Target =
  | {
      readonly _tag: "Remote"
      readonly url: Setting
      readonly token: Setting | undefined
      readonly caFile: Setting | undefined
    }
  | { readonly _tag: "Postgres"; readonly url: Setting }
  /** `dataDir` undefined: in memory. The XDG default comes with the source `default`. */
  | { readonly _tag: "Embedded"; readonly dataDir: Setting | undefined }

/** What to call each option in a `Setting`'s source, e.g. a command line's flags. */
export type OptionNames = Partial<Record<"url" | "token" | "caFile" | "databaseUrl" | "dataDir", string>>

/** The options that choose the target, as `openInventory` takes them. */
export interface TargetOptions {
  readonly url?: string | undefined
  readonly token?: string | undefined
  readonly caFile?: string | undefined
  readonly databaseUrl?: string | undefined
  readonly dataDir?: string | undefined
  readonly inMemory?: boolean | undefined
}

/** The variables the rule reads; an empty value counts as unset. */
export const TARGET_VARIABLES = [
  "INV_CA_FILE",
  "INV_URL",
  "INV_TOKEN",
  "INV_DATABASE_URL",
  "INV_HOME",
  "XDG_DATA_HOME"
] as const

export type Variables = Partial<Record<(typeof TARGET_VARIABLES)[number], string | undefined>>

/** `INV_HOME`, else the XDG data directory: `$XDG_DATA_HOME/inv` or `~/.local/share/inv`. */
export const defaultDataDir = (variables: Variables): string =>
  variables.INV_HOME ||
  (variables.XDG_DATA_HOME ? join(variables.XDG_DATA_HOME, "inv") : undefined) ||
  join(homedir(), ".local", "share", "inv")

/**
 * The first that applies: `url`; `inMemory`, `databaseUrl`, `dataDir`; `INV_URL`;
 * `INV_DATABASE_URL`; `INV_HOME`; the XDG data directory. The environment's token (`INV_TOKEN`)
 * goes only to the environment's server.
 */
export const resolveTarget = (
  options: TargetOptions = {},
  names: OptionNames = {},
  variables: Variables = process.env
): Target => {
  const option = (name: keyof OptionNames): Setting | undefined => {
    const value = options[name]
    return value ? { value, source: names[name] ?? name } : undefined
  }
  const variable = (name: keyof Variables): Setting | undefined => {
    const value = variables[name]
    return value ? { value, source: name } : undefined
  }
  const caFile = option("caFile") ?? variable("INV_CA_FILE")
  const url = option("url")
  if (url) return { _tag: "Remote", url, token: option("token"), caFile }
  if (options.inMemory) return { _tag: "Embedded", dataDir: undefined }
  const databaseUrl = option("databaseUrl")
  if (databaseUrl) return { _tag: "Postgres", url: databaseUrl }
  const dataDir = option("dataDir")
  if (dataDir) return { _tag: "Embedded", dataDir }
  const serverUrl = variable("INV_URL")
  if (serverUrl)
    return { _tag: "Remote", url: serverUrl, token: option("token") ?? variable("INV_TOKEN"), caFile }
  const postgresUrl = variable("INV_DATABASE_URL")
  if (postgresUrl) return { _tag: "Postgres", url: postgresUrl }
  return {
    _tag: "Embedded",
    dataDir: variable("INV_HOME") ?? { value: defaultDataDir(variables), source: "default" }
  }
}
