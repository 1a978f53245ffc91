/** What to say about a missing argument, shared by the commands that take it. */
import type { Missing } from "./ui/prompt.js"

export const skuArgument: Missing = { name: "<sku>", passIt: "as the first argument", question: "SKU" }

export const quantityArgument: Missing = {
  name: "<quantity>",
  passIt: "as the second argument",
  question: "Quantity"
}

export const supplierIdArgument: Missing = {
  name: "<id>",
  passIt: "as the first argument, e.g. acme",
  question: "Supplier id"
}

export const orderIdArgument: Missing = {
  name: "<id>",
  passIt: "as the first argument: the order's number, as inv restock list shows it",
  question: "Restock order number"
}
