/**
 * The prompted arguments: what to say when one is missing, the question, and the rule its text
 * must pass (the SDK's own), shared by the commands that take them. Apart from prompted.ts,
 * which declares them for the help and so must not load the SDK.
 */
import { InvalidInput, Product, Supplier } from "@invkit/sdk"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { numberArgument } from "../numberArgument.js"
import type { Missing } from "../ui/prompt.js"

/**
 * Text checked by the SDK's own rule before anything is opened, so a prompt can ask again; the
 * SDK checks it once more where it is used.
 */
export const bySdkRule =
  <A, I>(schema: Schema.Schema<A, I>, field: string) =>
  (text: string): string =>
    Either.match(Schema.decodeUnknownEither(schema)(text), {
      onLeft: (error) => {
        throw new InvalidInput({
          field,
          rule: ParseResult.ArrayFormatter.formatErrorSync(error)[0]?.message ?? "is invalid"
        })
      },
      onRight: () => text
    })

export const skuArgument = {
  name: "<sku>",
  passIt: "as the first argument",
  question: "SKU",
  parse: bySdkRule(Product.Sku, "sku")
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
  parse: bySdkRule(Supplier.SupplierId, "id")
} satisfies Missing

export const orderIdArgument = {
  name: "<id>",
  passIt: "as the first argument: the order's number, as inv restock list shows it",
  question: "Restock order number",
  parse: (text: string) => numberArgument(text, "id")
} satisfies Missing<number>
