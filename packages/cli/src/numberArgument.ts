import { quoteInput } from "@invkit/sdk/rules"
import { InvalidArgument } from "./usageError.js"

const numeral = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/**
 * Text from the command line as a number. Only whether it is a number is checked here; whether it
 * is a whole number in range is the SDK's rule, so the CLI and the SDK answer alike.
 */
export const numberArgument = (text: string, field: string): number => {
  if (!numeral.test(text.trim())) {
    throw new InvalidArgument(field, `must be a number, not ${quoteInput(text)}`)
  }
  return Number(text)
}

export const optionalNumberArgument = (text: string | undefined, field: string): number | undefined =>
  text === undefined ? undefined : numberArgument(text, field)
