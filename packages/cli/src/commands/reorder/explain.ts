import { skuArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printExplanations } from "../../ui/restock.js"

export interface ExplainReorderOptions extends GlobalOptions {
  readonly location?: string
}

export const run = async (skuText: string | undefined, options: ExplainReorderOptions): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const explanations = await withInventory(options, (inventory) =>
    inventory.restock.explain(sku, { location: options.location })
  )
  printExplanations(explanations, options.json)
}
