/**
 * `inv`: the command line. Only the command tree lives here; each command's code (and with it
 * the SDK, PGlite and Effect) is imported when that command runs, so `inv --help` stays fast.
 */
import { shortenInput } from "@invkit/sdk/rules"
import { Command, CommanderError } from "commander"
import { ExitCode, exitCodeHelp } from "./exitCodes.js"
import { addImportExportCommands } from "./program/importExportCommands.js"
import { addLocationCommands } from "./program/locationCommands.js"
import { addProductCommands } from "./program/productCommands.js"
import { addProfileCommands } from "./program/profileCommands.js"
import { addReorderCommands } from "./program/reorderCommands.js"
import { addRestockCommands } from "./program/restockCommands.js"
import { addStockCommands } from "./program/stockCommands.js"
import { addSupplierCommands } from "./program/supplierCommands.js"
import { reportFailure } from "./ui/failure.js"
import { isStdoutFailure, watchStdout } from "./ui/output.js"
import { isPromptCancelled } from "./ui/prompt.js"

declare const INV_VERSION: string

watchStdout()

// Read before parsing, so that even commander's own usage errors come out as JSON.
const wantsJson = process.argv.includes("--json")

const environmentHelp = `Where the data lives (the first one set wins; inv config shows which):
  --server <url>         an invkit server (inv-server)
  --database-url <url>   a PostgreSQL database
  --data-dir <dir>       the embedded store in this directory
  --profile <name>       a server saved by inv login (also INV_PROFILE)
  INV_URL                an invkit server (with INV_TOKEN; INV_CA_FILE trusts an extra CA)
  INV_DATABASE_URL       a PostgreSQL database
  INV_HOME               the embedded store in this directory
  the default profile    the first inv login, or the one saved with --default
  XDG_DATA_HOME          the embedded store in $XDG_DATA_HOME/inv
  otherwise              the embedded store in ~/.local/share/inv`

const program = new Command("inv")
  .description(
    "invkit: products, stock levels and movements, suppliers and restock orders, on the embedded store or PostgreSQL"
  )
  .version(INV_VERSION)
  .option("--json", "print machine-readable JSON on stdout (errors as JSON on stderr)")
  .option("--data-dir <dir>", "the embedded store's directory (default: INV_HOME, else the XDG data dir)")
  .option("--database-url <url>", "use this PostgreSQL database (default: INV_DATABASE_URL)")
  .option("--server <url>", "use an invkit server (inv-server) instead of a local store (default: INV_URL)")
  .option("--token <token>", "bearer token for the server (default: INV_TOKEN, or the profile's)")
  .option("--profile <name>", "use a server saved by inv login (default: INV_PROFILE)")
  .configureHelp({
    subcommandTerm: (command) =>
      command.commands.length > 0
        ? `${command.name()} ${command.commands.map((verb) => verb.name()).join("|")}`
        : `${command.name()} ${command.usage()}`
  })
  .configureOutput({
    outputError: (written, write) => {
      // Commander repeats an unknown option or command in quotes: as short as any other echo.
      const text = written.replace(/'([^']*)'/g, (_, quoted: string) => `'${shortenInput(quoted)}'`)
      write(
        wantsJson
          ? `${JSON.stringify({ error: { code: "UsageError", message: text.replace(/^error: /, "").trim() } })}\n`
          : text
      )
    }
  })
  .showHelpAfterError(wantsJson ? false : "(add --help for usage)")
  .exitOverride()
  .addHelpText(
    "after",
    `
Examples:
  inv product add SKU-1 --name "Blue widget" --reorder-point 5 --reorder-quantity 20
  inv stock set SKU-1 40
  inv stock adjust SKU-1 -3 --reason sale --reference ORDER-9
  inv stock low --json
  inv supplier add acme --name Acme --url https://acme.example/catalog --items-path products \\
    --map supplierSku=id --map availability=inventory --api-key-header X-API-Key --api-key-env ACME_KEY
  inv supplier add        (on a terminal: step by step, trying the feed before saving)
  inv supplier sync acme
  inv restock list --open
  inv reorder explain SKU-1
  inv import counts.csv --errors rejected.csv
  inv login --server https://inv.example.com --profile prod
  inv config

${environmentHelp}

${exitCodeHelp}`
  )

addProductCommands(program)
addStockCommands(program)
addLocationCommands(program)
addSupplierCommands(program)
addRestockCommands(program)
addReorderCommands(program)
addImportExportCommands(program)
addProfileCommands(program)

// `ps`, and the embedded store's lock for a command waiting on it, show which command this is.
program.hook("preAction", (_program, action) => {
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
  reportFailure(error, wantsJson)
})
