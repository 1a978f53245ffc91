import { orderIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { askIfMissing, confirmOrRequireYes } from "../../ui/prompt.js"
import { printOrder } from "../../ui/restock.js"

export interface CancelOrderOptions extends GlobalOptions {
  readonly yes?: boolean
}

export const run = async (idText: string | undefined, options: CancelOrderOptions): Promise<void> => {
  const orderId = await askIfMissing(idText, orderIdArgument)
  if (
    !(await confirmOrRequireYes(
      { question: `Cancel restock order ${orderId}?`, action: `cancelling restock order ${orderId}` },
      options.yes
    ))
  ) {
    note("Nothing was changed.")
    return
  }
  const order = await withInventory(options, (inventory) => inventory.restock.cancel(orderId))
  printOrder(order, options.json)
  if (!options.json) note(`Cancelled restock order ${order.id}.`)
}
