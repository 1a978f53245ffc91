import { optionalNumberArgument } from "../../numberArgument.js"
import { orderIdArgument } from "../../options/prompted.js"
import { actorOf } from "../../options/write.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printOrder } from "../../ui/restock.js"

export interface ReceiveOrderOptions extends GlobalOptions {
  readonly quantity?: string
  readonly allowOverDelivery?: boolean
  readonly idempotencyKey?: string
  readonly actor?: string
}

export const run = async (idText: string | undefined, options: ReceiveOrderOptions): Promise<void> => {
  const orderId = await askIfMissing(idText, orderIdArgument)
  const quantity = optionalNumberArgument(options.quantity, "quantity")
  const order = await withInventory(options, (inventory) =>
    inventory.restock.receive(orderId, {
      quantity,
      allowOverDelivery: options.allowOverDelivery,
      idempotencyKey: options.idempotencyKey,
      actor: actorOf(options.actor)
    })
  )
  printOrder(order, options.json)
  if (!options.json) {
    const outstanding = order.quantity - order.receivedQuantity
    note(
      order.overDelivered > 0
        ? `Restock order ${order.id} is received with an over-delivery: ${order.receivedQuantity} of ${order.quantity}, ${order.overDelivered} more than ordered.`
        : order.status === "received"
          ? `Restock order ${order.id} is received in full: ${order.receivedQuantity} of ${order.quantity}.`
          : `Restock order ${order.id}: ${order.receivedQuantity} of ${order.quantity} received, ${outstanding} outstanding.`
    )
  }
}
