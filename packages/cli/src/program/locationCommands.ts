import { CODE_CHARACTERS } from "@invkit/sdk/rules"
import type { Command } from "commander"
import { withPromptedArguments } from "../options/prompted.js"

export const addLocationCommands = (program: Command): void => {
  const location = program
    .command("location")
    .description("warehouses or bins; a location named default always exists")

  withPromptedArguments(location.command("add").description("add a location"), [
    "code",
    `the location's code (${CODE_CHARACTERS})`
  ])
    .option("--name <name>", "a readable name (default: the code)")
    .action(async (code, _options, command: Command) => {
      const { run } = await import("../commands/location/add.js")
      await run(code, command.optsWithGlobals())
    })

  location
    .command("list")
    .description("list locations")
    .action(async (_options, command: Command) => {
      const { run } = await import("../commands/location/list.js")
      await run(command.optsWithGlobals())
    })
}
