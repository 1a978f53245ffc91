/**
 * Libraries that only some operations use, loaded on their first use instead of with the SDK:
 * opening the embedded store pays for every module it loads before PGlite answers, and a stock
 * command needs no cron schedule and no CSV. Synchronous (`require`: each ships CommonJS), so the
 * checks that use them (a Schema filter, a CSV line) stay synchronous. Node caches each after its
 * first load. `test/embeddedOpen.test.ts` pins that an embedded open loads none of them.
 */
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)

export const cronParser = (): typeof import("cron-parser") => require("cron-parser")

export const csvParse = (): typeof import("csv-parse") => require("csv-parse")

export const csvParseSync = (): typeof import("csv-parse/sync") => require("csv-parse/sync")

export const csvStringifySync = (): typeof import("csv-stringify/sync") => require("csv-stringify/sync")
