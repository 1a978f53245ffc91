import { numberArgument } from "../../numberArgument.js"
import { orderIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printOrder } from "../../ui/restock.js"

export const run = async (idText: string | undefined, options: GlobalOptions): Promise<void> => {
  const orderId = numberArgument(await askIfMissing(idText, orderIdArgument), "orderId")
  printOrder(await withInventory(options, (inventory) => inventory.restock.get(orderId)), options.json)
}
