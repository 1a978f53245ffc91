import type { Command } from "commander"

export const addStoreCommands = (program: Command): void => {
  const store = program
    .command("store")
    .description(
      "the store process that keeps the embedded store open between commands (started on first use, stopped after INV_STORE_IDLE)"
    )

  store
    .command("status")
    .description("whether a store process runs for the data directory: its pid, version and idle time")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/store/status.js")
      await run(command.optsWithGlobals())
    })

  store
    .command("stop")
    .description("stop the data directory's store process now (the next command starts a new one)")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/store/stop.js")
      await run(command.optsWithGlobals())
    })
}
