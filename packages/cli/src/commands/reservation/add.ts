import { type ExpiryOptions, expiryOf } from "../../options/expiry.js"
import { quantityArgument, skuArgument } from "../../options/prompted.js"
import { actorOf } from "../../options/write.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printReservation } from "../../ui/reservations.js"
import { asForOption } from "./reference.js"

export interface AddReservationOptions extends GlobalOptions, ExpiryOptions {
  readonly for?: string
  readonly location?: string
  readonly idempotencyKey?: string
  readonly actor?: string
}

export const run = async (
  skuText: string | undefined,
  quantityText: string | undefined,
  options: AddReservationOptions
): Promise<void> => {
  const sku = await askIfMissing(skuText, skuArgument)
  const quantity = await askIfMissing(quantityText, quantityArgument)
  const reference = await askIfMissing(options.for, {
    name: "--for",
    passIt: "as --for CART-1 (the cart or order the units are held for)",
    question: "Held for (a cart or an order)"
  })
  const expiry = expiryOf(options)
  const hold = await asForOption(
    withInventory(options, (inventory) =>
      inventory.reservations.create({
        sku,
        quantity,
        reference,
        location: options.location,
        ...expiry,
        idempotencyKey: options.idempotencyKey,
        actor: actorOf(options.actor)
      })
    )
  )
  printReservation(hold, options.json)
  if (!options.json) {
    note(
      `Holding ${hold.quantity} of ${hold.sku} at ${hold.location} for ${hold.reference} as reservation ${hold.id}${hold.expiresAt === null ? "" : `, until ${hold.expiresAt.toISOString()}`}.`
    )
  }
}
