import type { Stock } from "@invkit/sdk"
import { optionalNumberArgument } from "../../numberArgument.js"
import { quantityArgument, skuArgument } from "../../options/prompted.js"
import { changeContext, type WriteOptions } from "../../options/write.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printChange } from "../../ui/stock.js"

export interface SetStockOptions extends GlobalOptions, WriteOptions {
  readonly location?: string
  readonly expected?: string
  readonly reason?: string
  readonly releaseHolds?: boolean
}

export const run = async (
  skuText: string | undefined,
  quantityText: string | undefined,
  options: SetStockOptions
): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const quantity = await askIfMissing(quantityText, quantityArgument)
  const expected = optionalNumberArgument(options.expected, "expected")
  const change = await withInventory(options, (inventory) =>
    inventory.stock.set(sku, quantity, {
      location: options.location,
      expected,
      // Any text: the SDK checks it against the reasons it knows and says which those are.
      reason: options.reason as Stock.Reason | undefined,
      releaseHolds: options.releaseHolds,
      ...changeContext(options)
    })
  )
  printChange(change, options.json)
}
