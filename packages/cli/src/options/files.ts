/**
 * Files named on the command line, checked or opened before the inventory is touched: a wrong
 * path is a usage error naming the option and the path, and nothing has changed yet.
 */
import { randomBytes } from "node:crypto"
import { once } from "node:events"
import {
  accessSync,
  constants,
  createWriteStream,
  existsSync,
  lstatSync,
  openSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  type WriteStream
} from "node:fs"
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path"
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

/** A file the CLI writes (`writableFile`): what to write to, then `keep` it or `drop` it. */
export interface WrittenFile {
  readonly stream: WriteStream
  /** Puts what was written in the file's place: only now is a file there before replaced. */
  readonly keep: () => Promise<void>
  /** Leaves the path as it was before the command: what was written is removed. */
  readonly drop: () => Promise<void>
}

const statOrUndefined = (stat: () => Stats) => {
  try {
    return stat()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
}

/** Whether `path` lies in `directory` (both as they are on disk, links resolved). */
const isInside = (path: string, directory: string) => {
  let from: string
  try {
    from = relative(realpathSync(directory), realpathSync(dirname(resolve(path))))
  } catch {
    return false // either is not there: nothing of the store's is at the path
  }
  return !from.startsWith("..") && !isAbsolute(from)
}

/** Ends `stream` and waits until its file is closed (once; later calls wait for nothing). */
const closed = async (stream: WriteStream) => {
  if (stream.closed) return
  stream.end()
  await once(stream, "close")
}

/** What a written file must not be: the files a command reads, and the store's directory. */
export interface FileGuard {
  readonly inputs?: ReadonlyArray<string>
  readonly storeDir?: string | undefined
}

/**
 * A file the CLI writes, e.g. `--output FILE`, readable by its owner alone (0600), as exports and
 * rejected rows hold the store's data. It is written beside its path under a name of its own and
 * put in place by `keep`, so a command that fails or is interrupted leaves a file that was there
 * as it was, and an existing file's mode or a link never decide who reads the new one. Refused:
 * a directory, a symbolic link to a file, one of `inputs` (the file being imported), and a path
 * in the store's directory (`storeDir`), whose files the store needs. A device or a pipe
 * (`/dev/null`, `/dev/stdout`) is written to as it is.
 */
export const writableFile = (path: string, name: string, guard: FileGuard = {}): WrittenFile => {
  const refused = (problem: string) => new UsageError(`${name} ${path}: ${problem}`)
  let target: Stats | undefined
  let link: Stats | undefined
  try {
    link = statOrUndefined(() => lstatSync(path))
    target = link === undefined ? undefined : statOrUndefined(() => statSync(path))
  } catch (error) {
    throw refused(problemWith(error, path, true))
  }
  if (target?.isDirectory()) throw refused(`${aDirectory}, e.g. one inside it`)
  if (target !== undefined && !target.isFile()) {
    // A device or a pipe: nothing to replace, and nothing to leave as it was.
    let stream: WriteStream
    try {
      stream = createWriteStream(path, { fd: openSync(path, "w") })
    } catch (error) {
      throw refused(problemWith(error, path, true))
    }
    return { stream, keep: () => closed(stream), drop: () => closed(stream) }
  }
  if (link?.isSymbolicLink()) {
    throw refused("it is a symbolic link; name the file itself, or another path")
  }
  for (const input of guard.inputs ?? []) {
    const read = statOrUndefined(() => statSync(input))
    if (target !== undefined && read !== undefined && read.dev === target.dev && read.ino === target.ino) {
      throw refused("it is the file being read; name another file")
    }
  }
  if (guard.storeDir !== undefined && isInside(path, guard.storeDir)) {
    throw refused(`it is in the store's directory (${guard.storeDir}); choose a path outside it`)
  }
  const beside = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`)
  let stream: WriteStream
  try {
    stream = createWriteStream(beside, { fd: openSync(beside, "wx", 0o600) })
  } catch (error) {
    throw refused(problemWith(error, path, true))
  }
  // Interrupted (Ctrl-C, a failure that exits): the file beside goes, the path stays as it was.
  const removeBeside = () => {
    try {
      unlinkSync(beside)
    } catch {
      // already gone
    }
  }
  process.on("exit", removeBeside)
  return {
    stream,
    keep: async () => {
      await closed(stream)
      try {
        renameSync(beside, path)
      } catch (error) {
        removeBeside()
        throw refused(problemWith(error, path, true))
      } finally {
        process.off("exit", removeBeside)
      }
    },
    drop: async () => {
      await closed(stream)
      removeBeside()
      process.off("exit", removeBeside)
    }
  }
}
