/**
 * The embedded store's directory, before and after PGlite uses it:
 *
 * - only a directory that is empty, new, or already an inv store (it has the marker file) is
 *   used, so a mistyped path never fills someone's folder with PostgreSQL files;
 * - it is private to its owner (directories 0700, files 0600): PGlite creates most files 0666
 *   whatever the umask, so the tree is tightened on open, after PGlite has opened it, and on close;
 * - one holder at a time (see dataDirLock.ts): a short-lived holder is waited for, a long-lived
 *   one is named at once.
 */

import { chmodSync, lstatSync, readdirSync, realpathSync, writeFileSync } from "node:fs"
import { basename, join, resolve } from "node:path"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { InvalidInput, StoreError } from "../InventoryError.js"
import * as StoreProcess from "../StoreProcess.js"
import * as Lock from "./dataDirLock.js"
import { createDirectory, pathRefusal, reasonOf } from "./dataDirPath.js"
import { STORE_PROCESS_HOLDER } from "./storeProcessWire.js"

export interface DataDirOptions {
  /** Who opens it, recorded in the lock so that a process waiting for it can say who it waits for. */
  readonly holder?: {
    /** Default: the script, e.g. `node report.js`. */
    readonly description?: string | undefined
    /** Keeps the store open for long (a worker, a server): others fail at once instead of waiting. */
    readonly longLived?: boolean | undefined
  }
  /** How long to wait while a short-lived process holds the directory. Default: INV_LOCK_WAIT seconds, else 10 s. */
  readonly lockWait?: Duration.DurationInput | undefined
  /** Things worth knowing that need no action (waiting for a holder, permissions tightened). */
  readonly onNotice?: ((message: string) => void) | undefined
}

export interface DataDir {
  /** The directory's real path: every spelling of it (`..`, symlinks) is one store. */
  readonly path: string
  /** A store from before the marker existed: check that it holds an inventory, then `mark` it. */
  readonly unmarked: boolean
  readonly mark: Effect.Effect<void, StoreError>
  /** Takes group and other permissions off everything in it, quietly. */
  readonly tighten: Effect.Effect<void, StoreError>
}

/** The file that says a directory is an inv store. */
export const MARKER = "inv.store"
/** A mounted volume's root may hold the file system's own lost+found (root's, not ours to change). */
const FILE_SYSTEM_ENTRIES = new Set(["lost+found"])

/** Answers one row with `found`: whether a database opened without the marker holds an inventory. */
export const inventoryCheck = "select to_regclass('public.stock_levels') is not null as found"

/** Why a directory without the marker that holds some other PostgreSQL database is refused. */
export const notAnInventory = (dataDir: string) =>
  `${dataDir} holds a PostgreSQL database that is not an inv store: give a new or empty directory, or the directory of an existing store`

const DEFAULT_WAIT_SECONDS = 10
/** The wait is announced only when it is noticeable. */
const ANNOUNCE_AFTER_MS = 1_000

const LOCK_WAIT_RULE = "must be a number of seconds, 0 or more"

const lockWaitFromEnvironment = Config.number("INV_LOCK_WAIT").pipe(
  Config.validate({
    message: LOCK_WAIT_RULE,
    validation: (seconds) => seconds >= 0
  }),
  Config.withDefault(DEFAULT_WAIT_SECONDS),
  Config.map((seconds) => Duration.seconds(seconds))
)

const invalid = (rule: string) => new InvalidInput({ field: "dataDir", rule })

/** Creates the directory, or checks that the existing one may become or already is a store. */
const prepare = (dataDir: string) =>
  Effect.suspend((): Effect.Effect<{ path: string; unmarked: boolean; fresh: boolean }, InvalidInput> => {
    const refused = pathRefusal(dataDir) ?? createDirectory(dataDir)
    if (refused !== undefined) return Effect.fail(invalid(refused))
    const path = realpathSync(dataDir)
    let entries: Array<string>
    try {
      entries = readdirSync(path)
    } catch (error) {
      return Effect.fail(invalid(`cannot read ${dataDir}: ${reasonOf(error)}`))
    }
    // No PostgreSQL in it yet (new, or a first open that died half-way): PGlite runs initdb.
    const fresh = !entries.includes("PG_VERSION")
    if (entries.includes(MARKER)) return Effect.succeed({ path, unmarked: false, fresh })
    // A store made before the marker existed: PostgreSQL's files, checked for an inventory once open.
    if (!fresh) return Effect.succeed({ path, unmarked: true, fresh })
    if (entries.some((entry) => !FILE_SYSTEM_ENTRIES.has(entry))) {
      return Effect.fail(
        invalid(
          `${dataDir} is not empty and is not an inv store (it has no ${MARKER} file): give a new or empty directory, or the directory of an existing store`
        )
      )
    }
    // Marked before anything else is written, so a first open that dies half-way leaves a directory known as ours.
    return Effect.as(writeMarker(path, dataDir), { path, unmarked: false, fresh })
  })

const writeMarker = (path: string, dataDir: string) =>
  Effect.try({
    try: () =>
      writeFileSync(
        join(path, MARKER),
        "This directory is an invkit embedded store (PGlite). inv manages it.\n",
        {
          mode: 0o600
        }
      ),
    catch: (error) =>
      invalid(`cannot write to ${dataDir}: ${reasonOf(error)}. Give a directory you can write to`)
  })

/** Takes group and other permissions off the tree; answers how many entries had some. */
const tightenTree = (root: string): number => {
  let changed = 0
  const visit = (path: string) => {
    let stats: ReturnType<typeof lstatSync>
    try {
      stats = lstatSync(path)
    } catch (error) {
      // PostgreSQL removes files while it runs (WAL segments, temporary files).
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return
      throw error
    }
    if (stats.isSymbolicLink()) return
    if ((stats.mode & 0o077) !== 0) {
      chmodSync(path, stats.mode & 0o700)
      changed += 1
    }
    if (!stats.isDirectory()) return
    for (const entry of readdirSync(path)) {
      if (!(path === root && FILE_SYSTEM_ENTRIES.has(entry))) visit(join(path, entry))
    }
  }
  visit(root)
  return changed
}

const tightenEffect = (path: string, dataDir: string) =>
  Effect.try({
    try: () => tightenTree(path),
    catch: (error) =>
      new StoreError({ reason: `cannot make ${dataDir} private to its owner: ${reasonOf(error)}` })
  })

const since = (holder: Lock.Holder) => holder.since.replace(/\.\d+Z$/, "Z")

const who = (holder: Lock.Holder) =>
  holder.pid === process.pid
    ? `another open of it in this process (${holder.description}, since ${since(holder)})`
    : `process ${holder.pid} (${holder.description}, since ${since(holder)})`

const inUse = (dataDir: string, holder: Lock.Holder, waited: Duration.Duration | undefined) =>
  new StoreError({
    reason:
      holder.pid === process.pid
        ? `the embedded store in ${dataDir} is already open in this process (${holder.description}, since ${since(holder)})${waited ? ` and was not closed within ${Duration.format(waited)}` : ""}. Use the inventory already open, or close it first: two opens of one directory would each keep their own copy of the data.`
        : holder.longLived
          ? `the embedded store in ${dataDir} is held by process ${holder.pid} (${holder.description}, running since ${since(holder)}), which keeps it open. Stop it first, or share the data through PostgreSQL (databaseUrl, INV_DATABASE_URL).`
          : `the embedded store in ${dataDir} is still in use by ${who(holder)} after waiting ${Duration.format(waited ?? Duration.zero)}. Try again when it has finished, or wait longer (lockWait, INV_LOCK_WAIT).`
  })

const lockWithWait = (
  dataDir: string,
  lockFile: string,
  holder: Lock.Holder,
  wait: Duration.Duration,
  onNotice: (message: string) => void
) =>
  Effect.gen(function* () {
    const started = yield* Clock.currentTimeMillis
    let announced = false
    let storeProcessAsked = false
    for (;;) {
      const blocker = yield* Effect.try({
        try: () => Lock.take(lockFile, holder),
        catch: (error) => new StoreError({ reason: `cannot lock ${dataDir}: ${reasonOf(error)}` })
      })
      if (blocker === undefined) return
      // A store process only keeps the store open for others: it is asked to stop, and waited for.
      if (blocker.description === STORE_PROCESS_HOLDER && holder.description !== STORE_PROCESS_HOLDER) {
        if (!storeProcessAsked) {
          storeProcessAsked = true
          yield* Effect.ignore(Effect.tryPromise(() => StoreProcess.stop(dataDir)))
        }
        yield* Effect.sleep(Duration.millis(20))
        continue
      }
      if (blocker.longLived) return yield* Effect.fail(inUse(dataDir, blocker, undefined))
      const waited = (yield* Clock.currentTimeMillis) - started
      if (waited >= Duration.toMillis(wait)) return yield* Effect.fail(inUse(dataDir, blocker, wait))
      if (!announced && waited >= ANNOUNCE_AFTER_MS) {
        announced = true
        onNotice(
          `Waiting for ${who(blocker)} to finish with the embedded store in ${dataDir} (up to ${Duration.format(wait)}).`
        )
      }
      // Jitter, so that waiting processes do not retry in step.
      yield* Effect.sleep(Duration.millis(30 + Math.random() * 40))
    }
  })

const defaultDescription = () =>
  ["node", ...process.argv.slice(1, 2).map((script) => basename(script))].join(" ")

const defaultNotice = (message: string) => process.emitWarning(message, "InvkitNotice")

/**
 * Makes `dataDir` ready for PGlite and holds it for the scope: created private when missing,
 * refused when it is a file or a folder that is not a store, tightened when others could read
 * it (with one notice), locked for this holder. On close: tightened again, then unlocked.
 */
export const open = (
  dataDir: string,
  options: DataDirOptions = {}
): Effect.Effect<DataDir, InvalidInput | StoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const onNotice = options.onNotice ?? defaultNotice
    const wait =
      options.lockWait === undefined
        ? yield* Effect.mapError(
            lockWaitFromEnvironment,
            () => new InvalidInput({ field: "INV_LOCK_WAIT", rule: LOCK_WAIT_RULE })
          )
        : Duration.decode(options.lockWait)
    const shown = resolve(dataDir)
    const { path, unmarked, fresh } = yield* prepare(shown)
    const lockFile = join(path, Lock.LOCK_FILE)
    const holder = Lock.newHolder(
      options.holder?.description ?? defaultDescription(),
      options.holder?.longLived ?? false
    )
    yield* Effect.acquireRelease(lockWithWait(shown, lockFile, holder, wait, onNotice), () =>
      // Files PostgreSQL created while open are made private before another process may open it.
      Effect.ignore(tightenEffect(path, shown)).pipe(
        Effect.zipRight(Effect.sync(() => Lock.release(lockFile, holder)))
      )
    )
    if (fresh) onNotice(`Creating the store in ${shown}: first run, a few seconds.`)
    // Under the lock: what a holder creates while open is its own to tighten, on close.
    const loose = yield* tightenEffect(path, shown)
    if (loose > 0) {
      onNotice(
        `Made the embedded store in ${shown} private to its owner: ${loose} of its files and directories could be read by other users.`
      )
    }
    return {
      path,
      unmarked,
      mark: Effect.mapError(writeMarker(path, shown), (error) => new StoreError({ reason: error.rule })),
      tighten: Effect.asVoid(tightenEffect(path, shown))
    }
  })
