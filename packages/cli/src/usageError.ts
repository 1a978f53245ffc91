/** A mistake in how `inv` was called, found before the inventory is opened (exit code 2). */
export class UsageError extends Error {
  readonly _tag = "UsageError"
}

/**
 * An argument that breaks an input rule, found before the inventory is opened. It reports as the
 * SDK's InvalidInput does (exit 2; with --json the code InvalidInput, the field and the rule), but
 * is defined here because the option parsers load with the command tree, and printing help must
 * not load the SDK.
 */
export class InvalidArgument extends Error {
  readonly _tag = "InvalidInput"
  constructor(
    readonly field: string,
    readonly rule: string
  ) {
    super(`${field}: ${rule}`)
  }
}
