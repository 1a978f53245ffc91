/**
 * Loaded with `node --import` by embeddedOpen.test.ts: every module a process loads is appended to
 * `<INV_TEST_MODULES_DIR>/<pid>.txt`, one URL or path a line: the ES modules as they resolve (the
 * hook runs on its own thread, hence the synchronous append), and on exit the CommonJS ones (`pg`
 * and `undici` load their own files with `require`, which no ES hook sees).
 */
import { appendFileSync } from "node:fs"
import { createRequire, register } from "node:module"
import { join } from "node:path"
import { isMainThread } from "node:worker_threads"

const record = (lines) => appendFileSync(join(process.env.INV_TEST_MODULES_DIR, `${process.pid}.txt`), lines)

if (isMainThread) {
  register(import.meta.url)
  const required = createRequire(import.meta.url).cache
  process.on("exit", () => record(`${Object.keys(required).join("\n")}\n`))
}

export const resolve = async (specifier, context, nextResolve) => {
  const resolved = await nextResolve(specifier, context)
  record(`${resolved.url}\n`)
  return resolved
}
