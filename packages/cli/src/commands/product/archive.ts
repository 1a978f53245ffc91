import { skuArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { printProduct } from "../../ui/products.js"
import { askIfMissing, confirmOrRequireYes } from "../../ui/prompt.js"

export interface ArchiveProductOptions extends GlobalOptions {
  readonly yes?: boolean
}

export const run = async (skuText: string | undefined, options: ArchiveProductOptions): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  if (
    !(await confirmOrRequireYes(
      { question: `Archive product ${sku}?`, action: `archiving ${sku}` },
      options.yes
    ))
  ) {
    note("Nothing was changed.")
    return
  }
  const product = await withInventory(options, (inventory) => inventory.products.archive(sku))
  printProduct(product, options.json)
  if (!options.json) {
    note(`Archived product ${product.sku}: it keeps its stock and history, and leaves low-stock lists.`)
  }
}
