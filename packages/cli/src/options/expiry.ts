import { EXPIRES_IN_RULE, parseExpiresIn, quoteInput } from "@invkit/sdk/rules"
import { InvalidArgument } from "../usageError.js"

export interface ExpiryOptions {
  readonly expiresIn?: string
  readonly expiresAt?: string
}

/**
 * `--expires-in` and `--expires-at` as the SDK takes them, checked before the store is opened: a
 * duration by the SDK's own rule, a time as a date the SDK parses (and checks lies ahead).
 */
export const expiryOf = (options: ExpiryOptions): { expiresIn?: number; expiresAt?: string } => {
  const expiry: { expiresIn?: number; expiresAt?: string } = {}
  if (options.expiresIn !== undefined) {
    const seconds = parseExpiresIn(options.expiresIn)
    if (seconds === undefined) {
      throw new InvalidArgument("expiresIn", `${EXPIRES_IN_RULE}, not ${quoteInput(options.expiresIn)}`)
    }
    expiry.expiresIn = seconds
  }
  if (options.expiresAt !== undefined) {
    if (Number.isNaN(Date.parse(options.expiresAt))) {
      throw new InvalidArgument(
        "expiresAt",
        `must be a date and time, e.g. 2026-12-24T18:00:00Z, not ${quoteInput(options.expiresAt)}`
      )
    }
    expiry.expiresAt = options.expiresAt
  }
  return expiry
}
