/**
 * The prompted arguments: declared for the help (required in the usage line, optional to
 * commander), and what to say when one is missing, the question, and the rule its text must pass
 * (the SDK's own). Loaded for `inv --help` too, so only the SDK's dependency-free rules are
 * imported here; the SDK itself only when a value needs its schema's words (sdkRule.ts).
 */
import { isCode, isSupplierId } from "@invkit/sdk/rules"
import type { Command } from "commander"
import { numberArgument } from "../numberArgument.js"
import type { Missing } from "../ui/prompt.js"

/**
 * Adds arguments that are required but asked for on a terminal when left out. Commander would
 * reject a missing `<arg>` before the command could ask, so they are declared optional and the
 * usage line still shows them as required. What each is called, asked as and checked by: the
 * values below.
 */
export const withPromptedArguments = (
  command: Command,
  ...args: ReadonlyArray<readonly [name: string, description: string]>
): Command => {
  for (const [name, description] of args) command.argument(`[${name}]`, description)
  return command.usage(["[options]", ...args.map(([name]) => `<${name}>`)].join(" "))
}

/**
 * Text that the SDK's rule (from `@invkit/sdk/rules`) accepts passes at once; anything else is
 * checked by the SDK's schema itself (see sdkRule.ts), for its exact words. So a command whose
 * arguments are right loads neither the SDK's core nor Effect.
 */
const byRule =
  (
    accepts: (text: string) => boolean,
    check: (sdk: typeof import("@invkit/sdk")) => unknown,
    field: string
  ) =>
  async (text: string): Promise<string> => {
    if (accepts(text)) return text
    const [sdk, { bySdkRule }] = await Promise.all([import("@invkit/sdk"), import("./sdkRule.js")])
    return bySdkRule(check(sdk) as Parameters<typeof bySdkRule>[0], field)(text)
  }

export const skuArgument = {
  name: "<sku>",
  passIt: "as the first argument",
  question: "SKU",
  parse: byRule(isCode, (sdk) => sdk.Product.Sku, "sku")
} satisfies Missing

export const quantityArgument = {
  name: "<quantity>",
  passIt: "as the second argument",
  question: "Quantity",
  parse: (text: string) => numberArgument(text, "quantity")
} satisfies Missing<number>

export const supplierIdArgument = {
  name: "<id>",
  passIt: "as the first argument, e.g. acme",
  question: "Supplier id",
  parse: byRule(isSupplierId, (sdk) => sdk.Supplier.SupplierId, "id")
} satisfies Missing

export const orderIdArgument = {
  name: "<id>",
  passIt: "as the first argument: the order's number, as inv restock list shows it",
  question: "Restock order number",
  parse: (text: string) => numberArgument(text, "id")
} satisfies Missing<number>

export const reservationIdArgument = {
  name: "<id>",
  passIt: "as the first argument: the reservation's number, as inv reservation list shows it",
  question: "Reservation number",
  parse: (text: string) => numberArgument(text, "id")
} satisfies Missing<number>
