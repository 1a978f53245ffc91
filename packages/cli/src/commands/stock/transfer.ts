import { quantityArgument, skuArgument } from "../../options/prompted.js"
import { changeContext, type WriteOptions } from "../../options/write.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printTransfer } from "../../ui/stock.js"

export interface TransferStockOptions extends GlobalOptions, WriteOptions {
  readonly from: string
  readonly to?: string
}

export const run = async (
  skuText: string | undefined,
  quantityText: string | undefined,
  options: TransferStockOptions
): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const quantity = await askIfMissing(quantityText, quantityArgument)
  const to = await askIfMissing(options.to, {
    name: "--to",
    passIt: "as --to <location>",
    question: "To location"
  })
  const transfer = await withInventory(options, (inventory) =>
    inventory.stock.transfer(sku, quantity, { from: options.from, to, ...changeContext(options) })
  )
  printTransfer(transfer, options.json)
}
