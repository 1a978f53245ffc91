/**
 * The exit codes scripts can rely on; docs/cli.md and `inv --help` list the same table.
 * Kept free of SDK imports: `bin.ts` needs it and must not load the core (a type import is
 * erased, and keeps the map complete: a new SDK error fails the typecheck until it has a code).
 */
import type { InventoryError } from "@invkit/sdk"

export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  insufficientStock: 4,
  conflict: 5,
  syncFailed: 6,
  notAllowed: 7,
  importRejected: 8,
  /** Ctrl-C or Ctrl-D at a prompt: 128 + SIGINT, as a shell reports an interrupted command. */
  interrupted: 130
} as const

const exitCodeByTag: Readonly<
  Record<InventoryError.InventoryError["_tag"] | "UsageError" | "ImportRejectedRows", number>
> = {
  UsageError: ExitCode.usage,
  InvalidInput: ExitCode.usage,
  ProductNotFound: ExitCode.notFound,
  LocationNotFound: ExitCode.notFound,
  SupplierNotFound: ExitCode.notFound,
  RestockOrderNotFound: ExitCode.notFound,
  ReservationNotFound: ExitCode.notFound,
  InsufficientStock: ExitCode.insufficientStock,
  StockConflict: ExitCode.conflict,
  ProductAlreadyExists: ExitCode.conflict,
  LocationAlreadyExists: ExitCode.conflict,
  IdempotencyKeyReused: ExitCode.conflict,
  SupplierAlreadyExists: ExitCode.conflict,
  SupplierInUse: ExitCode.conflict,
  RestockOrderClosed: ExitCode.conflict,
  OverDelivery: ExitCode.conflict,
  ReservationClosed: ExitCode.conflict,
  // Its own code: a supplier's feed failing is neither our store failing nor the caller's mistake.
  SyncFailed: ExitCode.syncFailed,
  // An import that rejected rows: the valid ones went in (--on-error skip) or none did (abort).
  ImportRejectedRows: ExitCode.importRejected,
  Unauthorized: ExitCode.notAllowed,
  Forbidden: ExitCode.notAllowed,
  RequestTooLarge: ExitCode.usage,
  // The client waits and retries by itself; still limited after that, the server is overloaded.
  RateLimited: ExitCode.failure,
  StoreError: ExitCode.failure,
  InventoryClosed: ExitCode.failure
}

export const tagOf = (error: unknown): string | undefined => {
  const tag = (error as { _tag?: unknown } | null)?._tag
  return typeof tag === "string" ? tag : undefined
}

export const exitCodeFor = (error: unknown): number =>
  (exitCodeByTag as Readonly<Record<string, number>>)[tagOf(error) ?? ""] ?? ExitCode.failure

export const exitCodeHelp = `Exit codes:
  0  ok
  1  failure (the store failed, or an unexpected error)
  2  usage error (bad or missing argument or option, invalid input)
  3  not found (product, location, supplier, restock order or reservation)
  4  insufficient stock (also: a hold that does not fit, a change held units are in the way of)
  5  conflict (stock changed since --expected, already exists, idempotency key reused,
     supplier has open orders, restock order already closed, more received than outstanding,
     reservation no longer active)
  6  supplier sync failed (the feed could not be fetched or read)
  7  not allowed (the server refused the token, or its role may not do this)
  8  import rejected rows (with --on-error skip the valid rows were applied; with abort, none)
  130  stopped at a prompt (Ctrl-C or Ctrl-D)`
