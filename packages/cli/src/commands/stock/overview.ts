import { type GlobalOptions, withInventory } from "../../session.js"
import { printOverview } from "../../ui/stock.js"

export const run = async (options: GlobalOptions): Promise<void> => {
  printOverview(await withInventory(options, (inventory) => inventory.stock.overview()), options.json)
}
