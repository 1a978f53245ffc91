import { optionalNumberArgument } from "../../numberArgument.js"
import { type ExpiryOptions, expiryOf } from "../../options/expiry.js"
import { reservationIdArgument } from "../../options/prompted.js"
import { actorOf } from "../../options/write.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printReservation } from "../../ui/reservations.js"

export interface UpdateReservationOptions extends GlobalOptions, ExpiryOptions {
  readonly quantity?: string
  /** false with --no-expiry (commander's negation); true, the default, otherwise. */
  readonly expiry?: boolean
  readonly idempotencyKey?: string
  readonly actor?: string
}

export const run = async (idText: string | undefined, options: UpdateReservationOptions): Promise<void> => {
  const id = await askIfMissing(idText, reservationIdArgument)
  const quantity = optionalNumberArgument(options.quantity, "quantity")
  const expiry = expiryOf(options)
  const hold = await withInventory(options, (inventory) =>
    inventory.reservations.update(id, {
      quantity,
      ...expiry,
      noExpiry: options.expiry === false ? true : undefined,
      idempotencyKey: options.idempotencyKey,
      actor: actorOf(options.actor)
    })
  )
  printReservation(hold, options.json)
  if (!options.json) note(`Reservation ${hold.id} holds ${hold.quantity} of ${hold.sku}.`)
}
