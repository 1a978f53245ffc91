import { optionalNumberArgument } from "../../numberArgument.js"
import { clearableNumber, clearableText } from "../../options/clearable.js"
import { skuArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { printProduct } from "../../ui/products.js"
import { askIfMissing } from "../../ui/prompt.js"

export interface AddProductOptions extends GlobalOptions {
  readonly name?: string
  readonly unit?: string
  readonly reorderPoint?: string
  readonly reorderQuantity?: string
  readonly maxLevel?: string
  readonly preferredSupplier?: string
  readonly allowBackorders?: boolean
}

export const run = async (skuText: string | undefined, options: AddProductOptions): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const name = await askIfMissing(options.name, {
    name: "--name",
    passIt: 'as --name "Blue widget"',
    question: "Name"
  })
  const reorderPoint = optionalNumberArgument(options.reorderPoint, "reorderPoint")
  const reorderQuantity = optionalNumberArgument(options.reorderQuantity, "reorderQuantity")
  const maxLevel = clearableNumber(options.maxLevel, "maxLevel")
  const preferredSupplier = clearableText(options.preferredSupplier)
  const product = await withInventory(options, (inventory) =>
    inventory.products.add({
      sku,
      name,
      unit: options.unit,
      reorderPoint,
      reorderQuantity,
      maxLevel,
      preferredSupplier,
      allowBackorders: options.allowBackorders
    })
  )
  printProduct(product, options.json)
  if (!options.json) note(`Added product ${product.sku}.`)
}
