import { lstatSync, readdirSync } from "node:fs"
import { join } from "node:path"

/** Every entry of the tree that group or others may use, with its mode: none, in a private store. */
export const looseEntries = (dir: string): Array<string> => {
  const loose: Array<string> = []
  const visit = (path: string) => {
    const stats = lstatSync(path)
    if ((stats.mode & 0o077) !== 0) loose.push(`${path} ${(stats.mode & 0o777).toString(8)}`)
    if (stats.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry))
  }
  visit(dir)
  return loose
}
