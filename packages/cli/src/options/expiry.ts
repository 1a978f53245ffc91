import { EXPIRES_IN_RULE, MOMENT_RULE, parseExpiresIn, parseMoment, quoteInput } from "@invkit/sdk/rules"
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
    if (parseMoment(options.expiresAt) === undefined) {
      throw new InvalidArgument("expiresAt", `${MOMENT_RULE}, not ${quoteInput(options.expiresAt)}`)
    }
    expiry.expiresAt = options.expiresAt
  }
  return expiry
}
