import { reservationIdArgument } from "../../options/prompted.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { askIfMissing } from "../../ui/prompt.js"
import { printReservation } from "../../ui/reservations.js"

export const run = async (idText: string | undefined, options: GlobalOptions): Promise<void> => {
  const id = await askIfMissing(idText, reservationIdArgument)
  printReservation(await withInventory(options, (inventory) => inventory.reservations.get(id)), options.json)
}
