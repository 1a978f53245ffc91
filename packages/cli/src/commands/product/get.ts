import { skuArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printProduct } from "../../ui/products.js"
import { askIfMissing } from "../../ui/prompt.js"

export const run = async (skuText: string | undefined, options: GlobalOptions): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  printProduct(await withInventory(options, (inventory) => inventory.products.get(sku)), options.json)
}
