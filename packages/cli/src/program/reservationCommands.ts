import { EXPIRES_IN_RULE } from "@invkit/sdk/rules"
import type { Command } from "commander"
import { withPagingOptions } from "../options/paging.js"
import { withPromptedArguments } from "../options/prompted.js"

const reservationId = ["id", "the reservation's number"] as const
const key = [
  "--idempotency-key <key>",
  "run this at most once: the same key with the same request answers again without applying it"
] as const
const actor = ["--actor <name>", "who did it (default: your user name)"] as const

export const addReservationCommands = (program: Command): void => {
  const reservation = program
    .command("reservation")
    .description("hold stock for carts and orders, with an expiry; fulfil or release the holds")

  withPromptedArguments(
    reservation
      .command("add")
      .description("hold units of a product for a cart or an order (exit 4 when they are not available)"),
    ["sku", "the product's SKU"],
    ["quantity", "how many units to hold"]
  )
    .option("--for <reference>", "what the units are held for: a cart or an order (required)")
    .option("--location <code>", "where (default: the default location)")
    .option(
      "--expires-in <duration>",
      `release the hold by itself after this long: ${EXPIRES_IN_RULE.replace("must be ", "")}`
    )
    .option("--expires-at <time>", "release the hold by itself at this time, e.g. 2026-12-24T18:00:00Z")
    .option(...key)
    .option(...actor)
    .action(async (sku, quantity, _options, command: Command) => {
      const { run } = await import("../commands/reservation/add.js")
      await run(sku, quantity, command.optsWithGlobals())
    })

  withPagingOptions(
    reservation.command("list").description("list reservations, newest first"),
    "reservations"
  )
    .option("--sku <sku>", "only holds of this product")
    .option("--location <code>", "only holds at this location")
    .option("--for <reference>", "only holds for this cart or order")
    .option("--status <status>", "only holds in this status: active, fulfilled, released or expired")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/reservation/list.js")
      await run(command.optsWithGlobals())
    })

  withPromptedArguments(reservation.command("get").description("show one reservation"), reservationId).action(
    async (id, _options, command: Command) => {
      const { run } = await import("../commands/reservation/get.js")
      await run(id, command.optsWithGlobals())
    }
  )

  withPromptedArguments(
    reservation.command("update").description("change the units a hold keeps, or its expiry"),
    reservationId
  )
    .option("--quantity <n>", "units to hold from now on (more must be available, else exit 4)")
    .option("--expires-in <duration>", "a new expiry, from now")
    .option("--expires-at <time>", "a new expiry time")
    .option("--no-expiry", "hold until released or fulfilled")
    .option(...key)
    .option(...actor)
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/reservation/update.js")
      await run(id, command.optsWithGlobals())
    })

  withPromptedArguments(
    reservation.command("release").description("release a hold: its units are available again"),
    reservationId
  )
    .option(...key)
    .option(...actor)
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/reservation/release.js")
      await run(id, command.optsWithGlobals())
    })

  withPromptedArguments(
    reservation
      .command("fulfil")
      .description("the held units leave stock as a sale (all, or --quantity of them; the rest stay held)"),
    reservationId
  )
    .option("--quantity <n>", "units that leave now (default: all that are held)")
    .option(...key)
    .option(...actor)
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/reservation/fulfil.js")
      await run(id, command.optsWithGlobals())
    })
}
