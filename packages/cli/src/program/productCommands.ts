import { CODE_CHARACTERS } from "@invkit/sdk/rules"
import type { Command } from "commander"
import { withPagingOptions } from "../options/paging.js"
import { withPromptedArguments } from "../options/prompted.js"

const sku = ["sku", `the product's SKU (${CODE_CHARACTERS})`] as const

export const addProductCommands = (program: Command): void => {
  const product = program.command("product").description("add, change and list products")

  withPromptedArguments(product.command("add").description("add a product"), sku)
    .option("--name <name>", "the product's name (asked for on a terminal when left out)")
    .option("--unit <unit>", "the unit it is counted in", "each")
    .option("--reorder-point <n>", "stock at or below this is low")
    .option("--reorder-quantity <n>", "how many to order when low")
    .option("--max-level <n>", "when set, restock orders fill up to this level instead")
    .option("--preferred-supplier <id>", "the supplier to order from first")
    .option("--allow-backorders", "stock writes may sell units that reservations hold (never below 0)")
    .action(async (sku, _options, command: Command) => {
      const { run } = await import("../commands/product/add.js")
      await run(sku, command.optsWithGlobals())
    })

  withPromptedArguments(product.command("update").description("change a product's fields"), sku)
    .option("--name <name>", "a new name")
    .option("--unit <unit>", "a new unit")
    .option("--reorder-point <n>", "a new reorder point")
    .option("--reorder-quantity <n>", "a new reorder quantity")
    .option("--max-level <n>", 'a new max level ("none" clears it)')
    .option("--no-max-level", "clear the max level: orders add the reorder quantity again")
    .option("--preferred-supplier <id>", 'a new preferred supplier ("none" clears it)')
    .option("--no-preferred-supplier", "clear the preferred supplier: order from the cheapest")
    .option("--allow-backorders", "stock writes may sell units that reservations hold")
    .option("--no-allow-backorders", "held units may not be sold (the default)")
    .option("--active", "make an archived product active again")
    .action(async (sku, _options, command: Command) => {
      const { run } = await import("../commands/product/update.js")
      await run(sku, command.optsWithGlobals())
    })

  withPromptedArguments(product.command("get").description("show one product"), sku).action(
    async (sku, _options, command: Command) => {
      const { run } = await import("../commands/product/get.js")
      await run(sku, command.optsWithGlobals())
    }
  )

  withPagingOptions(product.command("list").description("list products by SKU"), "products")
    .option("--text <text>", "only products whose SKU or name contains this")
    .option("--active", "only active products")
    .option("--archived", "only archived products")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/product/list.js")
      await run(command.optsWithGlobals())
    })

  withPromptedArguments(
    product
      .command("archive")
      .description("archive a product: it keeps stock and history but leaves low-stock lists"),
    sku
  )
    .option("-y, --yes", "do not ask for confirmation (required without a terminal)")
    .action(async (sku, _options, command: Command) => {
      const { run } = await import("../commands/product/archive.js")
      await run(sku, command.optsWithGlobals())
    })
}
