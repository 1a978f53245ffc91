/**
 * What the path of an embedded store's directory allows, judged from the file system alone: the
 * SDK's open (dataDir.ts) and the store process's client (StoreProcess.ts) refuse a bad path in
 * the same words, the client before it starts anything.
 *
 * No Effect here: the store process's client must load in a blink.
 */
import { mkdirSync, statSync } from "node:fs"
import { dirname, resolve } from "node:path"

/** An operation's failure as people say it. */
export const reasonOf = (error: unknown): string => {
  const { code, message } = error as NodeJS.ErrnoException
  return code === "EACCES" || code === "EPERM"
    ? "permission denied"
    : code === "EROFS"
      ? "the file system is read-only"
      : code === "ENOTDIR"
        ? "a part of the path is a file"
        : message
}

const OWN_DIRECTORY = "give the embedded store a directory of its own (it is created when missing)"

/**
 * Why `dataDir` can be no store's directory (a file, a path through a file, one that cannot be
 * read); undefined when it is a directory or missing, which the store then checks or creates.
 */
export const pathRefusal = (dataDir: string): string | undefined => {
  try {
    const stats = statSync(dataDir)
    if (!stats.isDirectory()) return `${dataDir} is a file, not a directory: ${OWN_DIRECTORY}`
    // Another user's directory, even empty and made private here: its owner could put files in it
    // again (a socket this process would talk to, a store's files) or open it up.
    const self = process.getuid?.()
    return self === undefined || stats.uid === self
      ? undefined
      : `${dataDir} belongs to another user (uid ${stats.uid}), who could change what is in it: ${OWN_DIRECTORY}`
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    return `cannot use ${dataDir}: ${reasonOf(error)}; ${OWN_DIRECTORY}`
  }
}

const exists = (path: string) => {
  try {
    statSync(path)
    return true
  } catch {
    return false
  }
}

/**
 * Creates `dataDir` and its missing parents (0700), one at a time; answers why not, if it cannot.
 * Not Node's `mkdirSync(…, { recursive: true })`: where a file system refuses a new directory
 * with ENOENT under a parent that exists (/proc), that one retries forever.
 */
export const createDirectory = (dataDir: string): string | undefined => {
  const missing: Array<string> = []
  for (let path = resolve(dataDir); !exists(path); path = dirname(path)) {
    missing.unshift(path)
    if (dirname(path) === path) break
  }
  for (const path of missing) {
    try {
      mkdirSync(path, { mode: 0o700 })
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException
      // Made meanwhile by another process opening the same store: fine.
      if (code === "EEXIST") continue
      const reason = code === "ENOENT" ? `no directory can be created in ${dirname(path)}` : reasonOf(error)
      return `cannot create ${dataDir}: ${reason}. Give a directory you can write to`
    }
  }
  return undefined
}
