import type { Stock } from "@invkit/sdk"
import { deltaArgument } from "../../numberArgument.js"
import { skuArgument } from "../../options/prompted.js"
import { changeContext, type WriteOptions } from "../../options/write.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printChange } from "../../ui/stock.js"

export interface AdjustStockOptions extends GlobalOptions, WriteOptions {
  readonly location?: string
  readonly reason?: string
  readonly releaseHolds?: boolean
}

export const run = async (
  skuText: string | undefined,
  deltaText: string | undefined,
  options: AdjustStockOptions
): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const delta = await askIfMissing(deltaText, {
    name: "<delta>",
    passIt: "as the second argument, e.g. -3 or 12",
    question: "Change (e.g. -3 or 12)",
    parse: (text) => deltaArgument(text, "delta")
  })
  const change = await withInventory(options, (inventory) =>
    inventory.stock.adjust(sku, delta, {
      location: options.location,
      // Any text: the SDK checks it against the reasons it knows and says which those are.
      reason: options.reason as Stock.Reason | undefined,
      releaseHolds: options.releaseHolds,
      ...changeContext(options)
    })
  )
  printChange(change, options.json)
}
