import { orderIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printOrder } from "../../ui/restock.js"

export const run = async (idText: string | undefined, options: GlobalOptions): Promise<void> => {
  const orderId = await askIfMissing(idText, orderIdArgument)
  printOrder(await withInventory(options, (inventory) => inventory.restock.get(orderId)), options.json)
}
