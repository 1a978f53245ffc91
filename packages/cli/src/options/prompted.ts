import type { Command } from "commander"
import type { Missing } from "../ui/prompt.js"

/**
 * Adds arguments that are required but asked for on a terminal when left out. Commander would
 * reject a missing `<arg>` before the command could ask, so they are declared optional and the
 * usage line still shows them as required.
 */
export const withPromptedArguments = (
  command: Command,
  ...args: ReadonlyArray<readonly [name: string, description: string]>
): Command => {
  for (const [name, description] of args) command.argument(`[${name}]`, description)
  return command.usage(["[options]", ...args.map(([name]) => `<${name}>`)].join(" "))
}

/** What to say about a missing argument, shared by the commands that take it. */
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
