import type { Command } from "commander"
import { withPromptedArguments } from "../options/prompted.js"

export const addReorderCommands = (program: Command): void => {
  const reorder = program.command("reorder").description("the reorder rule that opens restock orders")

  withPromptedArguments(
    reorder
      .command("explain")
      .description("why a restock order was or was not opened for a product, per location"),
    ["sku", "the product's SKU"]
  )
    .option("--location <code>", "only this location (default: every location holding it)")
    .action(async (sku, _options, command: Command) => {
      const { run } = await import("../commands/reorder/explain.js")
      await run(sku, command.optsWithGlobals())
    })
}
