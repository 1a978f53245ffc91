import { optionalNumberArgument } from "../../numberArgument.js"
import { reservationIdArgument } from "../../options/prompted.js"
import { actorOf } from "../../options/write.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printReservation } from "../../ui/reservations.js"

export interface FulfilReservationOptions extends GlobalOptions {
  readonly quantity?: string
  readonly idempotencyKey?: string
  readonly actor?: string
}

export const run = async (idText: string | undefined, options: FulfilReservationOptions): Promise<void> => {
  const id = await askIfMissing(idText, reservationIdArgument)
  const quantity = optionalNumberArgument(options.quantity, "quantity")
  const hold = await withInventory(options, (inventory) =>
    inventory.reservations.fulfil(id, {
      quantity,
      idempotencyKey: options.idempotencyKey,
      actor: actorOf(options.actor)
    })
  )
  printReservation(hold, options.json)
  if (!options.json) {
    note(
      hold.status === "fulfilled"
        ? `Reservation ${hold.id} is fulfilled: ${hold.fulfilled} of ${hold.sku} left stock as a sale.`
        : `Reservation ${hold.id}: ${hold.fulfilled} fulfilled, ${hold.quantity} still held.`
    )
  }
}
