/**
 * One holder at a time for an embedded data directory: PGlite's files take one PostgreSQL at a
 * time, and a second one (in another process, or in this one) would keep its own copy and lose
 * the other's writes.
 *
 * The lock is a file whose content names its holder. It appears only whole: the record is
 * written to a file of its own, then hard-linked into place, which fails atomically when a lock
 * exists. A dead holder's lock is replaced (rename over it) only under a claim on that very
 * record (its nonce), taken the same way, so two processes that both find the holder dead
 * cannot both win; a claim whose own holder died is taken over by the same rule.
 */
import { randomUUID } from "node:crypto"
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"

/** The lock's file in the data directory. */
export const LOCK_FILE = "inv.lock"

export interface Holder {
  readonly pid: number
  /** What holds it, for people: `inv stock set`, `inv-server all`, `node report.js`. */
  readonly description: string
  /** A worker or a server keeps the store open: others fail at once rather than wait. */
  readonly longLived: boolean
  readonly since: string
  /** This acquisition's own name: a pid can be reused, a nonce is not. */
  readonly nonce: string
}

/**
 * A record with this process's pid from before it started was left by an earlier process with
 * the same pid (pid 1 in every container); one from since then is this process's, in any thread.
 */
const processStarted = Date.now() - process.uptime() * 1000

/**
 * The fields of `/proc/<pid>/stat` after the command name, the state first (Linux); undefined
 * where there is no /proc, or once the process is gone. The command name is in parentheses and
 * may hold any character, spaces and parentheses too, so the fields start after the last `)`.
 */
export const procStat = (pid: number): ReadonlyArray<string> | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** Whether `pid` has exited but not been collected by its parent (false where there is no /proc). */
const isZombie = (pid: number): boolean => procStat(pid)?.[0] === "Z"

/**
 * Whether `pid` is a live process. A zombie is not: it has exited, holds no file and no memory,
 * and only waits for its parent to collect it. A store process's parent has gone by then, so it
 * waits for the system's first process, which may collect it late (here: 1.9 s after it exited,
 * which every import and export that stopped one waited) or never (a container whose first
 * process is not an init).
 */
export const pidAlive = (pid: number): boolean => {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  return !isZombie(pid)
}

const isAlive = (holder: Holder) =>
  holder.pid === process.pid ? Date.parse(holder.since) >= processStarted : pidAlive(holder.pid)

const isCode = (error: unknown, code: string) => (error as NodeJS.ErrnoException).code === code

/** The record at `path`, or undefined when there is none; a lock from before records were JSON holds a pid. */
const readHolder = (path: string): Holder | undefined => {
  let text: string
  let modified: Date
  try {
    text = readFileSync(path, "utf8")
    modified = statSync(path).mtime
  } catch (error) {
    if (isCode(error, "ENOENT")) return undefined
    throw error
  }
  try {
    const record = JSON.parse(text) as Holder
    if (typeof record.pid === "number" && typeof record.nonce === "string") return record
  } catch {
    // an earlier version's lock, below
  }
  const pid = /^\d+$/.test(text.trim()) ? Number(text.trim()) : 0
  return {
    pid,
    description: "an earlier version of inv",
    longLived: false,
    since: modified.toISOString(),
    nonce: `legacy-${pid}-${modified.getTime()}`
  }
}

/** The record in a file of its own, private to this user. */
const writeRecord = (path: string, holder: Holder): string => {
  const file = `${path}.${randomUUID()}.tmp`
  writeFileSync(file, JSON.stringify(holder), { mode: 0o600, flag: "wx" })
  return file
}

/** Puts the record at `path` unless something is there; atomic. */
const place = (path: string, holder: Holder): boolean => {
  const file = writeRecord(path, holder)
  try {
    linkSync(file, path)
    return true
  } catch (error) {
    if (isCode(error, "EEXIST")) return false
    throw error
  } finally {
    rmSync(file, { force: true })
  }
}

/**
 * Takes the lock at `path` for `holder` if it is free or its holder is dead; answers the live
 * holder otherwise (the lock's, or another process's claim on a dead holder's lock).
 * Synchronous: one thread's attempts never interleave.
 */
export const take = (path: string, holder: Holder): Holder | undefined => {
  for (;;) {
    if (place(path, holder)) return undefined
    const current = readHolder(path)
    if (current === undefined) continue
    if (isAlive(current)) return current
    const claim = `${path}.${current.nonce}`
    const claimant = take(claim, holder)
    if (claimant !== undefined) return claimant
    try {
      // Under the claim, nobody else can change a dead holder's lock: replace it if it is still there.
      if (readHolder(path)?.nonce === current.nonce) {
        renameSync(writeRecord(path, holder), path)
        return undefined
      }
    } finally {
      rmSync(claim, { force: true })
    }
  }
}

/** Who holds the lock at `path` now, if anyone alive does. */
export const liveHolder = (path: string): Holder | undefined => {
  const holder = readHolder(path)
  return holder !== undefined && isAlive(holder) ? holder : undefined
}

/** Removes the lock if it is still this holder's. */
export const release = (path: string, holder: Holder): void => {
  if (readHolder(path)?.nonce === holder.nonce) rmSync(path, { force: true })
}

export const newHolder = (description: string, longLived: boolean): Holder => ({
  pid: process.pid,
  description,
  longLived,
  since: new Date().toISOString(),
  nonce: randomUUID()
})
