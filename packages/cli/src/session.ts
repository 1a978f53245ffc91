/**
 * One command's use of the inventory: open it where the global options, a profile or the
 * environment point (see `resolveTarget`), use it, close it.
 */
import { type InventoryClient, openInventory } from "@invkit/sdk"
import { type ConfigFile, checkProfileName, profileNamed, readConfig } from "./profiles.js"
import { note } from "./ui/output.js"
import { UsageError } from "./usageError.js"

export interface GlobalOptions {
  readonly json?: boolean
  readonly dataDir?: string
  readonly databaseUrl?: string
  /** `--server`: an invkit server instead of a local store. */
  readonly server?: string
  readonly token?: string
  /** `--profile`: a server saved by `inv login`. */
  readonly profile?: string
}

/** A value in effect and where it came from, for `inv config`. */
export interface Setting {
  readonly value: string
  readonly source: string
}

export type Target =
  | {
      readonly kind: "server"
      readonly server: Setting
      readonly token: Setting | undefined
      readonly caFile: Setting | undefined
      readonly profile: string | undefined
    }
  | { readonly kind: "postgres"; readonly databaseUrl: Setting }
  | { readonly kind: "embedded"; readonly dataDir: Setting | undefined }

const fromEnvironment = (name: string): Setting | undefined => {
  const value = process.env[name]
  return value === undefined || value === "" ? undefined : { value, source: name }
}

const fromFlag = (value: string | undefined, flag: string): Setting | undefined =>
  value === undefined ? undefined : { value, source: flag }

/**
 * Where a command works, the first that applies: --server, --database-url, --data-dir, --profile
 * (or INV_PROFILE), INV_URL, INV_DATABASE_URL, INV_HOME, the default profile of `inv login`, and
 * last the embedded store in the XDG data directory. A token from --token beats the profile's.
 */
export const resolveTarget = (options: GlobalOptions, config: () => ConfigFile = readConfig): Target => {
  const tokenFlag = fromFlag(options.token, "--token")
  const caFromEnvironment = fromEnvironment("INV_CA_FILE")
  if (options.server !== undefined) {
    return {
      kind: "server",
      server: { value: options.server, source: "--server" },
      token: tokenFlag ?? fromEnvironment("INV_TOKEN"),
      caFile: caFromEnvironment,
      profile: undefined
    }
  }
  if (options.databaseUrl !== undefined) {
    return { kind: "postgres", databaseUrl: { value: options.databaseUrl, source: "--database-url" } }
  }
  if (options.dataDir !== undefined) {
    return { kind: "embedded", dataDir: { value: options.dataDir, source: "--data-dir" } }
  }
  const fromProfile = (name: string, why: string): Target => {
    const profile = profileNamed(config(), checkProfileName(name))
    const source = `profile ${name} (${why})`
    return {
      kind: "server",
      server: { value: profile.server, source },
      token: tokenFlag ?? (profile.token === undefined ? undefined : { value: profile.token, source }),
      caFile:
        caFromEnvironment ?? (profile.caFile === undefined ? undefined : { value: profile.caFile, source }),
      profile: name
    }
  }
  if (options.profile !== undefined) return fromProfile(options.profile, "--profile")
  const profileVariable = fromEnvironment("INV_PROFILE")
  if (profileVariable !== undefined) return fromProfile(profileVariable.value, "INV_PROFILE")
  const url = fromEnvironment("INV_URL")
  if (url !== undefined) {
    return {
      kind: "server",
      server: url,
      token: tokenFlag ?? fromEnvironment("INV_TOKEN"),
      caFile: caFromEnvironment,
      profile: undefined
    }
  }
  const databaseUrl = fromEnvironment("INV_DATABASE_URL")
  if (databaseUrl !== undefined) return { kind: "postgres", databaseUrl }
  const home = fromEnvironment("INV_HOME")
  if (home !== undefined) return { kind: "embedded", dataDir: home }
  const saved = config()
  if (saved.defaultProfile !== undefined && saved.profiles[saved.defaultProfile] !== undefined) {
    return fromProfile(saved.defaultProfile, "the default profile")
  }
  return { kind: "embedded", dataDir: undefined }
}

/** Refuses, in the CLI's words, a command that runs only where the store is. */
export const requireLocalStore = (options: GlobalOptions, command: string, instead: string): void => {
  const target = resolveTarget(options)
  if (target.kind === "server") {
    throw new UsageError(
      `${command} runs where the data is, not against a server (${target.server.value}, from ${target.server.source}); ${instead}`
    )
  }
}

/**
 * Tries a supplier's connector against its live feed. A server does not preview (it would fetch
 * the feed for anyone who asks), so with a server the feed is read from this machine, by an
 * in-memory store that is gone afterwards.
 */
export const previewConnector = (
  options: GlobalOptions,
  connector: Parameters<InventoryClient["suppliers"]["preview"]>[0],
  /** The inventory already open, if any: a local store is not opened twice. */
  open?: InventoryClient
): ReturnType<InventoryClient["suppliers"]["preview"]> =>
  resolveTarget(options).kind === "server"
    ? openInventory({ inMemory: true }).then((scratch) =>
        scratch.suppliers.preview(connector).finally(() => scratch.close())
      )
    : open
      ? open.suppliers.preview(connector)
      : withInventory(options, (inventory) => inventory.suppliers.preview(connector))

/**
 * Always closes, also on failure: the embedded store flushes its data on close. `longLived`: the
 * command keeps the store open until stopped (a worker), so other commands fail at once rather
 * than wait for it.
 */
export const withInventory = async <A>(
  options: GlobalOptions,
  use: (inventory: InventoryClient) => Promise<A>,
  { longLived = false }: { readonly longLived?: boolean } = {}
): Promise<A> => {
  const target = resolveTarget(options)
  if (target.kind === "embedded") {
    // PostgreSQL (in PGlite) creates files while it runs; only the owner may read them. Once
    // set, for this one-shot process's whole life: the umask is the process's, not the store's.
    process.umask(0o077)
  }
  const inventory = await openInventory(
    target.kind === "server"
      ? { url: target.server.value, token: target.token?.value, caFile: target.caFile?.value }
      : target.kind === "postgres"
        ? { databaseUrl: target.databaseUrl.value }
        : {
            // No directory: the SDK picks the XDG data directory.
            dataDir: target.dataDir?.value,
            // bin.ts names the process after the command, e.g. `inv stock set`.
            holder: { description: process.title, longLived },
            onNotice: note
          }
  )
  try {
    return await use(inventory)
  } finally {
    await inventory.close()
  }
}
