/**
 * One command's use of the inventory: open it where the global options, a profile or the
 * environment point (see `resolveTarget`), use it, close it. On the embedded store a command goes
 * through the store process (`@invkit/sdk/store-process`), which keeps the store open between
 * commands, unless INV_STORE_PROCESS=off or the command must run where the caller is (see
 * `withInventory`). Only that path is loaded up front: the SDK's core is imported when a command
 * opens a store itself.
 */
import type { InventoryClient, OpenOptions } from "@invkit/sdk"
import * as StoreProcess from "@invkit/sdk/store-process"
import { type OptionNames, type Target as SdkTarget, resolveTarget as sdkTarget } from "@invkit/sdk/target"
import { type ConfigFile, checkProfileName, profileNamed, readConfig } from "./profiles.js"
import { note } from "./ui/output.js"
import { InvalidArgument, UsageError } from "./usageError.js"

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

/** Where a command works, as the SDK resolves it; `profile` when a saved profile named the server. */
export type Target = SdkTarget & { readonly profile?: string }

/** The flags that play the SDK's options, named so in `inv config` and in messages. */
const flagNames: OptionNames = {
  url: "--server",
  token: "--token",
  databaseUrl: "--database-url",
  dataDir: "--data-dir"
}

const resolved = (options: OpenOptions, names: OptionNames): Target => sdkTarget(options, names)

/**
 * Where a command works, the first that applies: --server, --database-url, --data-dir, --profile
 * (or INV_PROFILE), INV_URL, INV_DATABASE_URL, INV_HOME, the default profile of `inv login`, and
 * last the embedded store in the XDG data directory. The SDK resolves all but the profiles, which
 * are the CLI's. A token from --token beats the profile's.
 */
export const resolveTarget = (options: GlobalOptions, config: () => ConfigFile = readConfig): Target => {
  // Given empty (`--data-dir "$UNSET"`), a flag would count as not given, and the command would
  // work on the default store, the user's real one.
  for (const field of ["dataDir", "databaseUrl", "server", "token", "profile"] as const) {
    if (options[field] === "") {
      throw new InvalidArgument(field, "is empty; give a value, or leave the option out")
    }
  }
  const fromProfile = (name: string, why: string): Target => {
    const profile = profileNamed(config(), checkProfileName(name))
    const source = `profile ${name} (${why})`
    const token = options.token ?? profile.token
    const names = { url: source, token: options.token === undefined ? source : "--token", caFile: source }
    return { ...resolved({ url: profile.server, token, caFile: profile.caFile }, names), profile: name }
  }
  if (options.server !== undefined || options.databaseUrl !== undefined || options.dataDir !== undefined) {
    const { server: url, token, databaseUrl, dataDir } = options
    return resolved({ url, token, databaseUrl, dataDir }, flagNames)
  }
  if (options.profile !== undefined) return fromProfile(options.profile, "--profile")
  const profileVariable = process.env.INV_PROFILE
  if (profileVariable) return fromProfile(profileVariable, "INV_PROFILE")
  const fromEnvironment = resolved({ token: options.token }, flagNames)
  const saved = config()
  if (
    fromEnvironment._tag === "Embedded" &&
    fromEnvironment.dataDir?.source === "default" &&
    saved.defaultProfile !== undefined &&
    saved.profiles[saved.defaultProfile] !== undefined
  ) {
    return fromProfile(saved.defaultProfile, "the default profile")
  }
  return fromEnvironment
}

/** The SDK's options that open exactly `target`. */
const openOptionsOf = (target: Target): OpenOptions =>
  target._tag === "Remote"
    ? { url: target.url.value, token: target.token?.value, caFile: target.caFile?.value }
    : target._tag === "Postgres"
      ? { databaseUrl: target.url.value }
      : target.dataDir === undefined
        ? { inMemory: true }
        : { dataDir: target.dataDir.value }

/** The embedded store's directory a command works on, if it works on one: files it writes stay out of it. */
export const storeDirectory = (options: GlobalOptions): string | undefined => {
  const target = resolveTarget(options)
  return target._tag === "Embedded" ? target.dataDir?.value : undefined
}

/** The embedded store's directory a command works on; refused, in the CLI's words, for any other target. */
export const embeddedDataDir = (options: GlobalOptions, command: string): string => {
  const target = resolveTarget(options)
  if (target._tag === "Embedded" && target.dataDir !== undefined) return target.dataDir.value
  const where =
    target._tag === "Remote"
      ? `a server (${target.url.value}, from ${target.url.source})`
      : target._tag === "Postgres"
        ? `PostgreSQL (from ${target.url.source})`
        : "a store in memory"
  throw new UsageError(
    `${command} is about the embedded store's store process, and this command works on ${where}; give --data-dir or INV_HOME`
  )
}

/** Refuses, in the CLI's words, a command that runs only where the store is. */
export const requireLocalStore = (options: GlobalOptions, command: string, instead: string): void => {
  const target = resolveTarget(options)
  if (target._tag === "Remote") {
    throw new UsageError(
      `${command} runs where the data is, not against a server (${target.url.value}, from ${target.url.source}); ${instead}`
    )
  }
}

/**
 * Tries a supplier's connector against its live feed. A server does not preview (it would fetch
 * the feed for anyone who asks), so with a server the feed is read from this machine, by an
 * in-memory store that is gone afterwards.
 */
export const previewConnector = async (
  options: GlobalOptions,
  connector: Parameters<InventoryClient["suppliers"]["preview"]>[0],
  /** The inventory already open, if any: a local store is not opened twice. */
  open?: InventoryClient
): ReturnType<InventoryClient["suppliers"]["preview"]> => {
  // The store process reads no feeds: a feed's file is the caller's, from the caller's directory.
  if (resolveTarget(options)._tag === "Remote" || (open !== undefined && throughStoreProcess.has(open))) {
    const { openInventory } = await import("@invkit/sdk")
    const scratch = await openInventory({ inMemory: true })
    return scratch.suppliers.preview(connector).finally(() => scratch.close())
  }
  return open
    ? open.suppliers.preview(connector)
    : withInventory(options, (inventory) => inventory.suppliers.preview(connector))
}

/** The inventories reached through a store process. */
const throughStoreProcess = new WeakSet<InventoryClient>()

/** Opens `target` in this process, as every command did before the store process. */
const openHere = async (target: Target, longLived: boolean): Promise<InventoryClient> => {
  if (target._tag === "Embedded") {
    // PostgreSQL (in PGlite) creates files while it runs; only the owner may read them. Once
    // set, for this one-shot process's whole life: the umask is the process's, not the store's.
    process.umask(0o077)
  }
  const { openInventory } = await import("@invkit/sdk")
  return openInventory({
    ...openOptionsOf(target),
    // For the embedded store's lock: bin.ts names the process after the command, e.g. `inv stock set`.
    holder: { description: process.title, longLived },
    onNotice: note
  })
}

export interface Placement {
  /**
   * The command keeps the store open until stopped (a worker), so other commands fail at once
   * rather than wait for it. Implies `here`.
   */
  readonly longLived?: boolean
  /**
   * The command opens the embedded store in its own process, never through the store process
   * (which it stops, if one runs): a bulk import or export (set-based, on the store's own
   * connection), a supplier sync (it reads feeds from the caller's directory and environment).
   */
  readonly here?: boolean
}

/**
 * The store's refusal of its directory names what set it: `--data-dir` is the SDK's `dataDir`
 * already; a directory from INV_HOME is refused as INV_HOME, which is what there is to fix.
 */
const namingItsSource = (target: Target) => (error: unknown) => {
  const { _tag, field, rule } = error as { _tag?: unknown; field?: unknown; rule?: unknown }
  if (
    target._tag === "Embedded" &&
    target.dataDir?.source === "INV_HOME" &&
    _tag === "InvalidInput" &&
    field === "dataDir" &&
    typeof rule === "string"
  ) {
    throw new InvalidArgument("INV_HOME", rule)
  }
  throw error
}

/** `namingItsSource` for a command that works on the store's directory without opening it. */
export const namingDataDirSource = (options: GlobalOptions) => namingItsSource(resolveTarget(options))

/**
 * Always closes, also on failure: the embedded store flushes its data on close. A command on the
 * embedded store goes through its store process, started if none runs, unless `here` (see
 * `Placement`), INV_STORE_PROCESS=off, or a directory path too long for a Unix socket.
 */
export const withInventory = async <A>(
  options: GlobalOptions,
  use: (inventory: InventoryClient) => Promise<A>,
  { longLived = false, here = longLived }: Placement = {}
): Promise<A> => {
  const target = resolveTarget(options)
  const viaStoreProcess =
    target._tag === "Embedded" &&
    target.dataDir !== undefined &&
    !here &&
    StoreProcess.enabled() &&
    StoreProcess.fitsSocket(target.dataDir.value)
  const inventory = await (viaStoreProcess && target.dataDir !== undefined
    ? StoreProcess.connect(target.dataDir.value, { onNotice: note })
    : openHere(target, longLived)
  ).catch(namingItsSource(target))
  if (viaStoreProcess) throughStoreProcess.add(inventory)
  try {
    return await use(inventory)
  } finally {
    await inventory.close()
  }
}

/**
 * `withInventory` in this process, never through the store process (see `Placement.here`): for a
 * bulk import or export, which run set-based on the store's own connection.
 */
export const withInventoryHere = <A>(
  options: GlobalOptions,
  use: (inventory: InventoryClient) => Promise<A>
): Promise<A> => withInventory(options, use, { here: true })
