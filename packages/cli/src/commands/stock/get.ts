import { skuArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printLevel } from "../../ui/stock.js"

export interface GetStockOptions extends GlobalOptions {
  readonly location?: string
}

export const run = async (skuText: string | undefined, options: GetStockOptions): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const level = await withInventory(options, (inventory) =>
    inventory.stock.level(sku, { location: options.location })
  )
  printLevel(level, options.json)
}
