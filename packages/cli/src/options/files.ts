/**
 * Files named on the command line, checked or opened before the inventory is touched: a wrong
 * path is a usage error naming the option and the path, and nothing has changed yet.
 */
import {
  accessSync,
  constants,
  createWriteStream,
  existsSync,
  openSync,
  type Stats,
  statSync,
  type WriteStream
} from "node:fs"
import { dirname } from "node:path"
import { UsageError } from "../usageError.js"

const aDirectory = "it is a directory; give a file name"

const problemWith = (error: unknown, path: string, writing: boolean): string => {
  switch ((error as NodeJS.ErrnoException).code) {
    case "ENOENT":
      if (!writing) return "no such file; check the path"
      return existsSync(dirname(path))
        ? `no file can be created in ${dirname(path)}; choose another directory`
        : `the directory ${dirname(path)} does not exist; create it first, or choose another path`
    case "EISDIR":
      return `${aDirectory}, e.g. one inside it`
    case "ENOTDIR":
      return "a part of the path is a file, not a directory; check the path"
    case "EACCES":
    case "EPERM":
      return `permission denied; choose a file you can ${writing ? "write" : "read"}`
    case "EROFS":
      return "the file system is read-only; choose another path"
    default:
      return `cannot ${writing ? "write" : "read"} it (${(error as Error).message})`
  }
}

/** A file to read, e.g. `<file>` of `inv import`; its size in bytes. */
export const readableFile = (path: string, name: string): number => {
  const refused = (problem: string) => new UsageError(`${name} ${path}: ${problem}`)
  let stats: Stats
  try {
    accessSync(path, constants.R_OK)
    stats = statSync(path)
  } catch (error) {
    throw refused(problemWith(error, path, false))
  }
  if (stats.isDirectory()) throw refused(aDirectory)
  return stats.size
}

/**
 * A file the CLI writes, e.g. `--output FILE`: created readable by its owner alone (0600), as
 * exports and rejected rows hold the store's data.
 */
export const writableFile = (path: string, name: string): WriteStream => {
  try {
    return createWriteStream(path, { fd: openSync(path, "w", 0o600) })
  } catch (error) {
    throw new UsageError(`${name} ${path}: ${problemWith(error, path, true)}`)
  }
}
