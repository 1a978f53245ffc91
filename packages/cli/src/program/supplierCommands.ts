import type { Command } from "commander"
import { withConnectorOptions } from "../options/connector.js"
import { withPagingOptions } from "../options/paging.js"
import { withPromptedArguments } from "../options/prompted.js"

const id = ["id", "the supplier's id"] as const

export const addSupplierCommands = (program: Command): void => {
  const supplier = program.command("supplier").description("suppliers, their catalog feeds and catalog syncs")

  withConnectorOptions(
    withPromptedArguments(
      supplier
        .command("add")
        .description(
          "add a supplier; on a terminal without --url or --csv, asks step by step and tries the feed"
        ),
      ["id", "the supplier's id: lower-case letters, digits and - _ . (e.g. acme)"]
    ).option("--name <name>", "the supplier's name")
  )
    .option(
      "--schedule <cron>",
      'sync in the background on this cron schedule, e.g. "0 */6 * * *" (six fields: with seconds)'
    )
    .option("--create-missing-products", "add products that the feed names and our catalog lacks")
    .option("--lead-time-days <n>", "the lead time of items whose feed does not say (default: 0)")
    .option("--dry-run", "read the live feed with this connector and show what it would save; save nothing")
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/supplier/add.js")
      await run(id, command.optsWithGlobals())
    })

  withConnectorOptions(
    withPromptedArguments(
      supplier.command("update").description("change a supplier's name, feed or schedule"),
      id
    ).option("--name <name>", "a new name")
  )
    .option("--no-api-key", "send no API key any more")
    .option("--schedule <cron>", 'a new cron schedule ("none" removes it)')
    .option("--no-schedule", "sync only when asked: no background schedule")
    .option("--create-missing-products", "add products that the feed names and our catalog lacks")
    .option("--no-create-missing-products", "do not add products from the feed")
    .option("--lead-time-days <n>", "a new default lead time")
    .option("--inactive", "stop syncing it and choosing it for restock orders")
    .option("--active", "make an inactive supplier active again")
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/supplier/update.js")
      await run(id, command.optsWithGlobals())
    })

  withPromptedArguments(
    supplier.command("get").description("show one supplier; the API key shows as ***"),
    id
  ).action(async (id, _options, command: Command) => {
    const { run } = await import("../commands/supplier/get.js")
    await run(id, command.optsWithGlobals())
  })

  withPagingOptions(supplier.command("list").description("list suppliers by id"), "suppliers").action(
    async (_options, command: Command) => {
      const { run } = await import("../commands/supplier/list.js")
      await run(command.optsWithGlobals())
    }
  )

  withPromptedArguments(
    supplier
      .command("remove")
      .description(
        "remove a supplier with its catalog items and sync runs (refused while it has open restock orders)"
      ),
    id
  )
    .option("-y, --yes", "do not ask for confirmation (required without a terminal)")
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/supplier/remove.js")
      await run(id, command.optsWithGlobals())
    })

  supplier
    .command("sync")
    .description(
      "sync suppliers' catalogs now, in the foreground, and show the counts (on a server: queue the syncs)"
    )
    .argument("[ids...]", "the suppliers' ids: one, or several synced one after another")
    .option("--all", "every active supplier")
    .usage("[options] <id...> | --all")
    .action(async (ids: Array<string>, options: { all?: boolean }, command: Command) => {
      const { run } = await import("../commands/supplier/sync.js")
      await run(ids, { ...command.optsWithGlobals(), all: options.all })
    })

  withPagingOptions(
    withPromptedArguments(supplier.command("runs").description("a supplier's sync runs, newest first"), id),
    "runs"
  ).action(async (id, _options, command: Command) => {
    const { run } = await import("../commands/supplier/runs.js")
    await run(id, command.optsWithGlobals())
  })

  withPagingOptions(
    withPromptedArguments(
      supplier.command("items").description("a supplier's catalog items, by supplier SKU"),
      id
    ),
    "items"
  )
    .option("--active", "only items still in the feed")
    .action(async (id, _options, command: Command) => {
      const { run } = await import("../commands/supplier/items.js")
      await run(id, command.optsWithGlobals())
    })

  supplier
    .command("worker")
    .description("run queued and scheduled syncs in the foreground until Ctrl-C (SIGINT) or SIGTERM")
    .option("--concurrency <n>", "syncs run at once (1-100)", "1")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/supplier/worker.js")
      await run(command.optsWithGlobals())
    })
}
