import { optionalNumberArgument } from "../../numberArgument.js"
import { type ClearableOption, clearableNumber, clearableText } from "../../options/clearable.js"
import { skuArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { printProduct } from "../../ui/products.js"
import { askIfMissing } from "../../ui/prompt.js"

export interface UpdateProductOptions extends GlobalOptions {
  readonly name?: string
  readonly unit?: string
  readonly reorderPoint?: string
  readonly reorderQuantity?: string
  readonly maxLevel?: ClearableOption
  readonly preferredSupplier?: ClearableOption
  readonly active?: boolean
  readonly allowBackorders?: boolean
}

export const run = async (skuText: string | undefined, options: UpdateProductOptions): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const patch = {
    name: options.name,
    unit: options.unit,
    reorderPoint: optionalNumberArgument(options.reorderPoint, "reorderPoint"),
    reorderQuantity: optionalNumberArgument(options.reorderQuantity, "reorderQuantity"),
    maxLevel: clearableNumber(options.maxLevel, "maxLevel"),
    preferredSupplier: clearableText(options.preferredSupplier),
    allowBackorders: options.allowBackorders,
    active: options.active
  }
  const product = await withInventory(options, (inventory) => inventory.products.update(sku, patch))
  printProduct(product, options.json)
  if (!options.json) note(`Updated product ${product.sku}.`)
}
