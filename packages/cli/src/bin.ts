/**
 * `inv`: the command line. The tree of commands is built without loading the core; a command's
 * own code is imported when it runs, so `inv --help` stays fast.
 */
import { type Command, CommanderError } from "commander"
import { ExitCode } from "./exitCodes.js"
import { commandTree } from "./program/commandTree.js"
import { reportFailure } from "./ui/failure.js"
import { isStdoutFailure, watchStdout } from "./ui/output.js"
import { isPromptCancelled } from "./ui/prompt.js"
import { UsageError } from "./usageError.js"

declare const INV_VERSION: string

watchStdout()

// Read before parsing, so that even commander's own usage errors come out as JSON.
const wantsJson = process.argv.includes("--json")

const program = commandTree({ version: INV_VERSION, json: wantsJson })

// The command that runs: a refused value is reported by the flag or argument it came from.
let running: Command | undefined

/** The options that may be given more than once; any other given twice is refused, not overwritten. */
const REPEATABLE = new Set(["--map"])

/**
 * The first option given twice before `--`: commander keeps the last, so `--expected 2 --expected 3`
 * checked against 3, and a safety check written once could be undone by a second one.
 */
const givenTwice = (args: ReadonlyArray<string>) => {
  const seen = new Set<string>()
  for (const arg of args) {
    if (arg === "--") return undefined
    if (!arg.startsWith("--")) continue
    const flag = arg.split("=")[0]!
    if (REPEATABLE.has(flag)) continue
    if (seen.has(flag)) return flag
    seen.add(flag)
  }
  return undefined
}

// `ps`, and the embedded store's lock for a command waiting on it, show which command this is.
program.hook("preAction", (_program, action) => {
  running = action
  const twice = givenTwice(process.argv.slice(2))
  if (twice !== undefined) throw new UsageError(`${twice} is given twice; give it once`)
  const names: Array<string> = []
  for (let command: Command | null = action; command !== null; command = command.parent)
    names.unshift(command.name())
  process.title = names.join(" ")
})

const helpShown = new Set(["commander.helpDisplayed", "commander.version"])

program.parseAsync().catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander has already printed its message; a bare `inv stock` shows help but is a usage error.
    process.exitCode = helpShown.has(error.code) ? ExitCode.ok : ExitCode.usage
    return
  }
  // Already dealt with by watchStdout: the reader went away, or the failure is printed.
  if (isStdoutFailure(error)) return
  if (isPromptCancelled(error)) {
    process.exitCode = ExitCode.interrupted
    return
  }
  reportFailure(error, wantsJson, running)
})
