/**
 * A supplier's connector from command-line flags: `--url` (HTTP JSON) or `--csv`, `--map`
 * per field, the API key's placement and value, or the whole connector as JSON. `supplier add`
 * builds one from nothing, `supplier update` changes the stored one.
 */
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import type { Supplier } from "@invkit/sdk"
import { quoteInput } from "@invkit/sdk/rules"
import type { Command } from "commander"
import { optionalNumberArgument } from "../numberArgument.js"
import { UsageError } from "../usageError.js"

export type ConnectorInput = Supplier.NewSupplier["connector"]
type Mapping = Partial<Record<MappableField, string>>
type ApiKeyInput = NonNullable<ConnectorInput["apiKey"]>

export interface ConnectorFlags {
  readonly url?: string
  readonly itemsPath?: string
  readonly csv?: string
  readonly delimiter?: string
  readonly map?: ReadonlyArray<string>
  /** `false` from `--no-api-key` (update only): drop the key. */
  readonly apiKey?: string | false
  readonly apiKeyEnv?: string
  readonly apiKeyHeader?: string
  readonly apiKeyQuery?: string
  readonly timeoutMs?: string
  readonly connectorJson?: string
  readonly connectorFile?: string
}

/** The SDK's mapping fields, in the order a person fills them in, with what each holds. */
export const mappableFields = [
  ["supplierSku", "the supplier's own SKU (required)"],
  ["name", "the item's name"],
  ["availability", "how many the supplier has"],
  ["unitCost", "the price per unit"],
  ["sku", "our SKU, when the supplier knows it"],
  ["leadTimeDays", "days until delivery"],
  ["minOrderQty", "the minimum order"],
  ["packSize", "units per pack"]
] as const
export type MappableField = (typeof mappableFields)[number][0]
const fieldNames: ReadonlyArray<string> = mappableFields.map(([field]) => field)

/** Commander's collector for a repeatable option. */
export const collect = (
  value: string,
  previous: ReadonlyArray<string> | undefined
): ReadonlyArray<string> => [...(previous ?? []), value]

const mapHelp = `which feed field (JSON: a dot path in an item; CSV: a column) holds each of our fields; repeat it: --map supplierSku=id --map availability=inventory. Fields: ${fieldNames
  .map((field) => (field === "supplierSku" ? `${field} (required)` : field))
  .join(", ")}`

/** Where the catalog is and how to read it: the same flags for add and update. */
export const withConnectorOptions = (command: Command): Command =>
  command
    .option("--url <url>", "an HTTP JSON feed: the catalog's http:// or https:// URL")
    .option(
      "--items-path <path>",
      "HTTP JSON: the dot path to the item array, e.g. products (default: the answer is the array)"
    )
    .option("--csv <path-or-url>", "a CSV feed: a file, or an http(s) URL; its header row names the columns")
    .option("--delimiter <char>", "CSV: the column delimiter (default: ,)")
    .option("--map <field=source>", mapHelp, collect)
    .option("--api-key-header <name>", "send the API key in this request header, e.g. X-API-Key")
    .option("--api-key-query <name>", "send the API key as this query parameter, e.g. api_key")
    .option("--api-key <value>", "the API key (it is stored, and shown only as ***)")
    .option(
      "--api-key-env <variable>",
      "read the API key from this environment variable instead, keeping it out of shell history"
    )
    .option("--timeout-ms <n>", "how long a fetch may take, in milliseconds (default: 10000)")
    .option(
      "--connector-json <json>",
      "the whole connector as JSON, as in docs/suppliers.md, instead of the flags above"
    )
    .option("--connector-file <file>", "the whole connector from a JSON file")

const parseMapping = (entries: ReadonlyArray<string>): Mapping => {
  const mapping: Mapping = {}
  for (const entry of entries) {
    const separator = entry.indexOf("=")
    const field = entry.slice(0, separator).trim()
    const source = entry.slice(separator + 1).trim()
    if (separator < 1 || source === "") {
      throw new UsageError(
        `--map takes <field>=<supplier field>, e.g. --map supplierSku=id, not ${quoteInput(entry)}`
      )
    }
    if (!fieldNames.includes(field)) {
      throw new UsageError(
        `--map: unknown field ${quoteInput(field)}; the fields are ${fieldNames.join(", ")}`
      )
    }
    mapping[field as MappableField] = source
  }
  return mapping
}

const wholeConnectorGiven = (flags: ConnectorFlags): boolean =>
  flags.connectorJson !== undefined || flags.connectorFile !== undefined

const shapeGiven = (flags: ConnectorFlags): boolean =>
  [flags.url, flags.itemsPath, flags.csv, flags.delimiter, flags.timeoutMs].some(
    (flag) => flag !== undefined
  ) || (flags.map?.length ?? 0) > 0

const apiKeyGiven = (flags: ConnectorFlags): boolean =>
  [flags.apiKey, flags.apiKeyEnv, flags.apiKeyHeader, flags.apiKeyQuery].some((flag) => flag !== undefined)

/** True when any flag says something about the connector. */
export const connectorFlagsGiven = (flags: ConnectorFlags): boolean =>
  wholeConnectorGiven(flags) || shapeGiven(flags) || apiKeyGiven(flags)

const wholeConnector = (flags: ConnectorFlags): ConnectorInput => {
  if (flags.connectorJson !== undefined && flags.connectorFile !== undefined) {
    throw new UsageError("pass either --connector-json or --connector-file, not both")
  }
  if (shapeGiven(flags)) {
    throw new UsageError(
      "--connector-json and --connector-file give the whole connector; leave out --url, --csv, --map, --items-path, --delimiter and --timeout-ms (only the API key flags may complete it)"
    )
  }
  const [flag, text] =
    flags.connectorJson !== undefined
      ? ["--connector-json", flags.connectorJson]
      : ["--connector-file", readConnectorFile(flags.connectorFile as string)]
  try {
    return JSON.parse(text) as ConnectorInput
  } catch (error) {
    throw new UsageError(`${flag}: not valid JSON (${(error as Error).message})`)
  }
}

const readConnectorFile = (path: string): string => {
  try {
    return readFileSync(path, "utf8")
  } catch (error) {
    throw new UsageError(`--connector-file: cannot read ${path} (${(error as NodeJS.ErrnoException).code})`)
  }
}

/** The key's value from `--api-key`, or from the environment variable `--api-key-env` names. */
const apiKeyValue = (flags: ConnectorFlags): string | undefined => {
  if (typeof flags.apiKey === "string" && flags.apiKeyEnv !== undefined) {
    throw new UsageError("pass either --api-key or --api-key-env, not both")
  }
  if (flags.apiKeyEnv === undefined) return typeof flags.apiKey === "string" ? flags.apiKey : undefined
  const value = process.env[flags.apiKeyEnv]
  if (value === undefined || value === "") {
    throw new UsageError(`--api-key-env: the environment variable ${flags.apiKeyEnv} is not set`)
  }
  return value
}

const placementOf = (flags: ConnectorFlags): Omit<ApiKeyInput, "value"> | undefined => {
  if (flags.apiKeyHeader !== undefined && flags.apiKeyQuery !== undefined) {
    throw new UsageError("pass either --api-key-header or --api-key-query, not both")
  }
  if (flags.apiKeyHeader !== undefined) return { in: "header", name: flags.apiKeyHeader }
  if (flags.apiKeyQuery !== undefined) return { in: "query", name: flags.apiKeyQuery }
  return undefined
}

/**
 * The API key after the flags: placement and value each from the flags, else from `current`.
 * A value kept from a stored connector is `***` (the store never gives it back).
 */
const apiKeyAfter = (flags: ConnectorFlags, current: ApiKeyInput | undefined): ApiKeyInput | undefined => {
  if (flags.apiKey === false) {
    if (apiKeyGiven({ ...flags, apiKey: undefined })) {
      throw new UsageError("--no-api-key drops the key; leave out the other --api-key flags")
    }
    return undefined
  }
  const value = apiKeyValue(flags)
  const placement = placementOf(flags) ?? current
  if (placement === undefined) {
    if (value === undefined) return undefined
    throw new UsageError(
      "say where the API key goes: --api-key-header <name> (e.g. X-API-Key) or --api-key-query <name> (e.g. api_key)"
    )
  }
  const keyValue = value ?? current?.value
  if (keyValue === undefined) throw new UsageError("missing --api-key <value> or --api-key-env <variable>")
  return { in: placement.in, name: placement.name, value: keyValue }
}

/** A connector from the flags alone, for `supplier add`; names the first flag missing. */
export const connectorFromFlags = (flags: ConnectorFlags): ConnectorInput => {
  if (wholeConnectorGiven(flags)) return withApiKey(wholeConnector(flags), flags)
  if (flags.url !== undefined && flags.csv !== undefined) {
    throw new UsageError("pass either --url (an HTTP JSON feed) or --csv (a CSV file or URL), not both")
  }
  if (flags.url === undefined && flags.csv === undefined) {
    throw new UsageError(
      "missing --url <url> (an HTTP JSON feed) or --csv <path-or-url>; or give the whole connector with --connector-json or --connector-file"
    )
  }
  const mapping = parseMapping(flags.map ?? [])
  if (mapping.supplierSku === undefined) {
    throw new UsageError(
      "missing --map supplierSku=<field>: which field of the feed holds the supplier's SKU"
    )
  }
  return build(flags, { type: flags.url !== undefined ? "http-json" : "csv", mapping }, undefined)
}

/**
 * The stored connector changed by the flags, for `supplier update`; undefined when no flag
 * touches it. The stored API key cannot be read back, so a change that keeps it needs it again.
 */
export const connectorChangedByFlags = (
  flags: ConnectorFlags,
  stored: Supplier.Supplier["connector"]
): ConnectorInput | undefined => {
  if (!connectorFlagsGiven(flags)) return undefined
  const storedMapping = stored.type === "http-json" ? stored.fields : stored.columns
  const connector = wholeConnectorGiven(flags)
    ? withApiKey(wholeConnector(flags), flags)
    : build(
        flags,
        {
          type: flags.url !== undefined ? "http-json" : flags.csv !== undefined ? "csv" : stored.type,
          mapping: { ...storedMapping, ...parseMapping(flags.map ?? []) },
          stored
        },
        stored.apiKey
      )
  if (connector.apiKey?.value === "***") {
    throw new UsageError(
      "the stored API key cannot be read back: pass it again with --api-key or --api-key-env when changing the connector (or drop it with --no-api-key)"
    )
  }
  return connector
}

const withApiKey = (connector: ConnectorInput, flags: ConnectorFlags): ConnectorInput => {
  if (!apiKeyGiven(flags)) return connector
  const apiKey = apiKeyAfter(flags, connector.apiKey)
  const { apiKey: _replaced, ...rest } = connector
  return apiKey === undefined ? rest : { ...rest, apiKey }
}

/** A relative CSV path is kept absolute: a worker started elsewhere reads the same file. */
const locatedSource = (source: string): string => (/^https?:\/\//i.test(source) ? source : resolve(source))

const build = (
  flags: ConnectorFlags,
  shape: {
    readonly type: ConnectorInput["type"]
    readonly mapping: Mapping
    readonly stored?: Supplier.Supplier["connector"]
  },
  storedApiKey: ApiKeyInput | undefined
): ConnectorInput => {
  const { type, mapping, stored } = shape
  const apiKey = apiKeyAfter(flags, storedApiKey)
  const timeoutMs = optionalNumberArgument(flags.timeoutMs, "connector.timeoutMs") ?? stored?.timeoutMs
  // The SDK requires supplierSku; a mapping without it is reported by the SDK as that field.
  const fields = mapping as Supplier.FieldMapping
  const common = { ...(apiKey ? { apiKey } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) }
  if (type === "http-json") {
    const url = flags.url ?? (stored?.type === "http-json" ? stored.url : undefined)
    if (url === undefined)
      throw new UsageError("missing --url <url>: switching to an HTTP JSON feed needs it")
    if (flags.delimiter !== undefined) throw new UsageError("--delimiter is for a --csv feed")
    const itemsPath = flags.itemsPath ?? (stored?.type === "http-json" ? stored.itemsPath : undefined)
    return { type, url, ...(itemsPath !== undefined ? { itemsPath } : {}), fields, ...common }
  }
  const source =
    flags.csv !== undefined ? locatedSource(flags.csv) : stored?.type === "csv" ? stored.source : undefined
  if (source === undefined)
    throw new UsageError("missing --csv <path-or-url>: switching to a CSV feed needs it")
  if (flags.itemsPath !== undefined) throw new UsageError("--items-path is for a --url (HTTP JSON) feed")
  const delimiter = flags.delimiter ?? (stored?.type === "csv" ? stored.delimiter : undefined)
  return { type, source, columns: fields, ...(delimiter !== undefined ? { delimiter } : {}), ...common }
}
