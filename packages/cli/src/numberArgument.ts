import { DELTA_TEXT_RULE, parseDelta, parseQuantity, QUANTITY_TEXT_RULE, quoteInput } from "@invkit/sdk/rules"
import { InvalidArgument } from "./usageError.js"

/**
 * A count from the command line (a quantity, a limit, an order number), written as everywhere
 * else: digits only. Its range is the SDK's rule, so the CLI and the SDK answer alike.
 */
export const numberArgument = (text: string, field: string): number => {
  const number = parseQuantity(text)
  if (number === undefined) throw new InvalidArgument(field, `${QUANTITY_TEXT_RULE}, not ${quoteInput(text)}`)
  return number
}

export const optionalNumberArgument = (text: string | undefined, field: string): number | undefined =>
  text === undefined ? undefined : numberArgument(text, field)

/** A change in units from the command line: digits with an optional leading minus. */
export const deltaArgument = (text: string, field: string): number => {
  const number = parseDelta(text)
  if (number === undefined) throw new InvalidArgument(field, `${DELTA_TEXT_RULE}, not ${quoteInput(text)}`)
  return number
}
