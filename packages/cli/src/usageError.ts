/** A mistake in how `inv` was called, found before the inventory is opened (exit code 2). */
export class UsageError extends Error {
  readonly _tag = "UsageError"
}
