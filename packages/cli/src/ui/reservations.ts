import type { Reservation } from "@invkit/sdk"
import { printJson, printLine, timestamp } from "./output.js"
import { columns, renderRecord } from "./table.js"

const expiry = (hold: Reservation.Reservation): string =>
  hold.expiresAt === null ? "none" : timestamp(hold.expiresAt)

export const renderReservations = columns<Reservation.Reservation>(
  ["id", "SKU", "location", "quantity", "fulfilled", "for", "status", "expires", "created"],
  (h) => [
    h.id,
    h.sku,
    h.location,
    h.quantity,
    h.fulfilled,
    h.reference,
    h.status,
    expiry(h),
    timestamp(h.createdAt)
  ]
)

export const printReservation = (hold: Reservation.Reservation, json: boolean | undefined): void => {
  if (json) {
    printJson(hold)
    return
  }
  printLine(
    renderRecord([
      ["reservation", hold.id],
      ["SKU", hold.sku],
      ["location", hold.location],
      [hold.status === "active" ? "held" : "quantity", hold.quantity],
      ["fulfilled", hold.fulfilled],
      ["for", hold.reference],
      ["status", hold.status],
      ["expires", expiry(hold)],
      ["actor", hold.actor ?? ""],
      ["created", timestamp(hold.createdAt)],
      ["closed", hold.closedAt === null ? "" : timestamp(hold.closedAt)]
    ])
  )
}

export const printReservations = (list: Reservation.ReservationList, json: boolean | undefined): void =>
  json ? printJson(list) : printLine(renderReservations(list.reservations))
