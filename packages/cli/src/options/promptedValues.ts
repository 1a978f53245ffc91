/**
 * The prompted arguments: what to say when one is missing, the question, and the rule its text
 * must pass (the SDK's own), shared by the commands that take them. Apart from prompted.ts,
 * which declares them for the help and so must not load the SDK.
 */
import { isCode, isSupplierId } from "@invkit/sdk/rules"
import { numberArgument } from "../numberArgument.js"
import type { Missing } from "../ui/prompt.js"

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
