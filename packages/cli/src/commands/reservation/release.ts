import { reservationIdArgument } from "../../options/prompted.js"
import { actorOf } from "../../options/write.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { note } from "../../ui/output.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printReservation } from "../../ui/reservations.js"

export interface ReleaseReservationOptions extends GlobalOptions {
  readonly idempotencyKey?: string
  readonly actor?: string
}

export const run = async (idText: string | undefined, options: ReleaseReservationOptions): Promise<void> => {
  const id = await askIfMissing(idText, reservationIdArgument)
  const hold = await withInventory(options, (inventory) =>
    inventory.reservations.release(id, {
      idempotencyKey: options.idempotencyKey,
      actor: actorOf(options.actor)
    })
  )
  printReservation(hold, options.json)
  if (!options.json) {
    note(
      hold.status === "expired"
        ? `Reservation ${hold.id} had expired: its units were already available.`
        : `Released reservation ${hold.id}: ${hold.quantity} of ${hold.sku} available again.`
    )
  }
}
