import type { Command } from "commander"
import { completionScript, type Shell } from "../../shellCompletion.js"
import { printLine } from "../../ui/output.js"

/** Prints the completion script for `shell`, made from the command tree `program` runs. */
export const run = (shell: Shell, program: Command): void => {
  printLine(completionScript(shell, program).trimEnd())
}
