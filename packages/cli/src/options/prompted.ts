import type { Command } from "commander"

/**
 * Adds arguments that are required but asked for on a terminal when left out. Commander would
 * reject a missing `<arg>` before the command could ask, so they are declared optional and the
 * usage line still shows them as required. What each is called, asked as and checked by:
 * promptedValues.ts, loaded only when a command runs.
 */
export const withPromptedArguments = (
  command: Command,
  ...args: ReadonlyArray<readonly [name: string, description: string]>
): Command => {
  for (const [name, description] of args) command.argument(`[${name}]`, description)
  return command.usage(["[options]", ...args.map(([name]) => `<${name}>`)].join(" "))
}
