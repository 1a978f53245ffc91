/**
 * Loaded with `node --import` by the start-up test: registers a module hook that appends every
 * module the process resolves (specifier and URL, tab-separated) to the file named by
 * INV_TEST_IMPORTS_FILE. The hooks run on their own thread, hence the synchronous append.
 */
import { appendFileSync } from "node:fs"
import { register } from "node:module"
import { isMainThread } from "node:worker_threads"

if (isMainThread) register(import.meta.url)

export const resolve = async (specifier, context, nextResolve) => {
  const resolved = await nextResolve(specifier, context)
  appendFileSync(process.env.INV_TEST_IMPORTS_FILE, `${specifier}\t${resolved.url}\n`)
  return resolved
}
