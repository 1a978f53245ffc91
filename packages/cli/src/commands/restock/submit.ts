import { orderIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printOrder } from "../../ui/restock.js"

export const run = async (idText: string | undefined, options: GlobalOptions): Promise<void> => {
  const orderId = await askIfMissing(idText, orderIdArgument)
  const order = await withInventory(options, (inventory) => inventory.restock.submit(orderId))
  printOrder(order, options.json)
  if (!options.json)
    note(`Submitted restock order ${order.id}. Receive it with: inv restock receive ${order.id}`)
}
