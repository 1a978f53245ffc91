import type { Reservation } from "@invkit/sdk"
import { type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { showListing } from "../../ui/listing.js"
import { renderReservations } from "../../ui/reservations.js"
import { asForOption } from "./reference.js"

export interface ListReservationsOptions extends GlobalOptions, PagingOptions {
  readonly sku?: string
  readonly location?: string
  readonly for?: string
  readonly status?: string
}

export const run = async (options: ListReservationsOptions): Promise<void> => {
  const query = {
    sku: options.sku,
    location: options.location,
    reference: options.for,
    // Any text: the SDK checks it against the statuses it knows and says which those are.
    status: options.status as Reservation.ReservationStatus | undefined
  }
  const paging = pagingOf(options)
  await asForOption(
    withInventory(options, (inventory) =>
      showListing(
        paging,
        (request) => inventory.reservations.list({ ...query, ...request }),
        options.json,
        renderReservations,
        "No reservations."
      )
    )
  )
}
