import { skuArgument } from "../../requiredArguments.js"
import { type GlobalOptions, requireKnownLocation, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printLevel } from "../../ui/stock.js"

export interface GetStockOptions extends GlobalOptions {
  readonly location?: string
}

export const run = async (skuText: string | undefined, options: GetStockOptions): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const level = await withInventory(options, async (inventory) => {
    const level = await inventory.stock.level(sku, { location: options.location })
    if (level.locations.length === 0) await requireKnownLocation(inventory, options.location)
    return level
  })
  printLevel(level, options.json)
}
