import type { Command } from "commander"
import { withPagingOptions } from "../options/paging.js"
import { withPromptedArguments } from "../options/prompted.js"

const orderId = ["id", "the restock order's number"] as const

export const addRestockCommands = (program: Command): void => {
  const restock = program
    .command("restock")
    .description(
      "restock orders: opened when stock falls to the reorder point; submit, receive or cancel them"
    )

  withPagingOptions(restock.command("list").description("list restock orders, newest first"), "orders")
    .option("--status <status>", "only orders in this status: draft, submitted, received or cancelled")
    .option("--open", "only open orders (draft or submitted)")
    .option("--sku <sku>", "only orders of this product")
    .option("--supplier <id>", "only orders from this supplier")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/restock/list.js")
      await run(command.optsWithGlobals())
    })

  withPromptedArguments(
    restock.command("get").description("show one restock order and why it was opened"),
    orderId
  ).action(async (id, _options, command: Command) => {
    const { run } = await import("../commands/restock/get.js")
    await run(id, command.optsWithGlobals())
  })

  withPromptedArguments(
    restock.command("submit").description("mark a draft order as sent to the supplier"),
    orderId
  ).action(async (id, _options, command: Command) => {
    const { run } = await import("../commands/restock/submit.js")
    await run(id, command.optsWithGlobals())
  })

  withPromptedArguments(
    restock
      .command("receive")
      .description(
        "receive a submitted order's units into stock (reason restock), all or --quantity of them"
      ),
    orderId
  )
    .option("--quantity <n>", "units received now (default: all still outstanding)")
    .option("--allow-over-delivery", "accept more units than are outstanding (refused otherwise, exit 5)")
    .option(
      "--idempotency-key <key>",
      "receive at most once: the same key with the same receipt answers again without adding stock"
    )
    .option("--actor <name>", "who received it (default: your user name)")
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/restock/receive.js")
      await run(id, command.optsWithGlobals())
    })

  withPromptedArguments(restock.command("cancel").description("cancel a draft or submitted order"), orderId)
    .option("-y, --yes", "do not ask for confirmation (required without a terminal)")
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/restock/cancel.js")
      await run(id, command.optsWithGlobals())
    })
}
