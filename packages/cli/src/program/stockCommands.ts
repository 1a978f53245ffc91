import { MAX_QUANTITY } from "@invkit/sdk/rules"
import type { Command } from "commander"
import { withPagingOptions } from "../options/paging.js"
import { withPromptedArguments } from "../options/prompted.js"
import { reasons, withWriteOptions } from "../options/write.js"

const sku = ["sku", "the product's SKU"] as const
const location = "--location <code>"

export const addStockCommands = (program: Command): void => {
  const stock = program.command("stock").description("change and read stock levels")

  withWriteOptions(
    withPromptedArguments(
      stock.command("set").description("set the quantity on hand, e.g. after a count"),
      sku,
      ["quantity", `the new quantity on hand, 0 to ${MAX_QUANTITY}`]
    )
      .option(location, "where (default: the default location)")
      .option("--expected <n>", "only if the quantity on hand is still this (else exit 5)")
      .option("--reason <reason>", `why: ${reasons}`, "count")
      .option(
        "--release-holds",
        "release the newest reservations the count would leave no units for (else exit 4)"
      )
  ).action(async (sku, quantity, _options, command: Command) => {
    const { run } = await import("../commands/stock/set.js")
    await run(sku, quantity, command.optsWithGlobals())
  })

  withWriteOptions(
    withPromptedArguments(
      stock.command("adjust").description("add to or take from the quantity on hand"),
      sku,
      ["delta", `the change: 12 adds, -3 takes away (at most ${MAX_QUANTITY} either way)`]
    )
      .option(location, "where (default: the default location)")
      .option("--reason <reason>", `why: ${reasons}`, "adjustment")
      .option("--release-holds", "release the newest reservations held units the change needs (else exit 4)")
  ).action(async (sku, delta, _options, command: Command) => {
    const { run } = await import("../commands/stock/adjust.js")
    await run(sku, delta, command.optsWithGlobals())
  })

  withWriteOptions(
    withPromptedArguments(
      stock.command("transfer").description("move stock from one location to another"),
      sku,
      ["quantity", "how many to move"]
    )
      .option("--from <code>", "the location to take from", "default")
      .option("--to <code>", "the location to move to (asked for on a terminal when left out)")
  ).action(async (sku, quantity, _options, command: Command) => {
    const { run } = await import("../commands/stock/transfer.js")
    await run(sku, quantity, command.optsWithGlobals())
  })

  withPromptedArguments(stock.command("get").description("show a product's stock per location"), sku)
    .option(location, "only this location")
    .action(async (sku, _options, command: Command) => {
      const { run } = await import("../commands/stock/get.js")
      await run(sku, command.optsWithGlobals())
    })

  withPagingOptions(stock.command("list").description("list stock levels by SKU and location"))
    .option(location, "only this location")
    .option("--text <text>", "only products whose SKU or name contains this")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/stock/list.js")
      await run(command.optsWithGlobals())
    })

  withPagingOptions(
    stock.command("low").description("products at or below their reorder point, out of stock first")
  )
    .option(location, "only this location")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/stock/low.js")
      await run(command.optsWithGlobals())
    })

  stock
    .command("overview")
    .description("counts: products, units, out of stock, low, ok, movements")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/stock/overview.js")
      await run(command.optsWithGlobals())
    })

  withPagingOptions(
    withPromptedArguments(
      stock.command("history").description("a product's stock movements, newest first"),
      sku
    )
  )
    .option(location, "only this location")
    .option("--until <time>", "only movements at or before this time, e.g. 2026-11-25T10:00:00Z")
    .action(async (sku, _options, command: Command) => {
      const { run } = await import("../commands/stock/history.js")
      await run(sku, command.optsWithGlobals())
    })
}
