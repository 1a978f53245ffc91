/**
 * What the store process and its clients say to each other over the Unix socket in the data
 * directory: HTTP/1.1 with JSON bodies, three routes.
 *
 * - `GET /hello` → `Hello`: who answers, so a client can tell a store process of another build or
 *   another environment (and replace it) from its own.
 * - `POST /call` with `{ method: "stock.level", args: [...] }` → `{ value }` or `{ error }`: one
 *   call of the `Inventory` facade, run by the store process's own `openInventory`, so the
 *   answer and the errors are the in-process facade's, by construction.
 * - `POST /stop` → the process stops once the calls in flight are answered.
 *
 * No Effect here: the client side must load in a blink.
 */

export const SOCKET_FILE = "inv.sock"
export const LOG_FILE = "inv-store.log"
/** V8's code cache of the store process's core (see storeProcessCache.ts). */
export const CACHE_FILE = "inv-store.cache"
/** The data directory lock's holder description of a store process: others recognise it by it. */
export const STORE_PROCESS_HOLDER = "inv store process"

export interface Hello {
  readonly pid: number
  /** The SDK's version. */
  readonly version: string
  /** The version and the build of the script it runs: a client of another build replaces it. */
  readonly build: string
  /** The `INV_*` environment it was started with, hashed: a client in another one replaces it. */
  readonly environment: string
  readonly dataDir: string
  /** The facade's `store`, e.g. `embedded store in /home/ana/.local/share/inv`. */
  readonly store: string
  readonly startedAt: string
  /** Seconds since the last call was answered (0 while one runs). */
  readonly idleSeconds: number
  /** It stops by itself after this many idle seconds. */
  readonly idleLimitSeconds: number
}

/** The error a call rejects with, as data: its tag, its message, its own fields. */
export interface WireError {
  readonly _tag?: string | undefined
  readonly message: string
  readonly fields: Record<string, unknown>
}

// Dates travel as `{"$date": "…"}`, so a client gets Dates back where the facade answers them.
const DATE = "$date"

export const encode = (value: unknown): string =>
  JSON.stringify(value, function (this: Record<string, unknown>, key, encoded) {
    const raw = this[key]
    return raw instanceof Date ? { [DATE]: raw.toISOString() } : encoded
  }) ?? "null"

export const decode = (text: string): unknown =>
  JSON.parse(text, (_key, value) =>
    value !== null &&
    typeof value === "object" &&
    typeof value[DATE] === "string" &&
    Object.keys(value).length === 1
      ? new Date(value[DATE])
      : value
  )

export const errorToWire = (error: unknown): WireError => {
  if (!(error instanceof Error)) return { message: String(error), fields: {} }
  const { _tag, ...fields } = Object.fromEntries(
    Object.entries(error).filter(([key]) => key !== "stack" && key !== "cause" && key !== "message")
  ) as Record<string, unknown>
  return { _tag: typeof _tag === "string" ? _tag : undefined, message: error.message, fields }
}

/**
 * The error again, with the same tag, message and own fields as the facade's (which is what
 * callers read: `_tag`, `message`, `sku`, `field`…), though not an instance of its class.
 */
export const errorFromWire = (wire: WireError): Error => {
  const error = new Error(wire.message)
  Object.assign(error, wire._tag === undefined ? {} : { _tag: wire._tag }, wire.fields)
  if (wire._tag !== undefined) Object.defineProperty(error, "name", { value: wire._tag, enumerable: false })
  return error
}
