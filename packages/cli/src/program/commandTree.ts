/**
 * The command tree of `inv`: every command, argument and option, and the help around them. Each
 * command's code (and with it the SDK, PGlite and Effect) is imported only when that command
 * runs, so the tree can be built, and help printed, without loading the core.
 */
import { shortenInput } from "@invkit/sdk/rules"
import { Command } from "commander"
import { exitCodeHelp } from "../exitCodes.js"
import { addCompletionCommand } from "./completionCommand.js"
import { addImportExportCommands } from "./importExportCommands.js"
import { addLocationCommands } from "./locationCommands.js"
import { addProductCommands } from "./productCommands.js"
import { addProfileCommands } from "./profileCommands.js"
import { addReorderCommands } from "./reorderCommands.js"
import { addReservationCommands } from "./reservationCommands.js"
import { addRestockCommands } from "./restockCommands.js"
import { addStockCommands } from "./stockCommands.js"
import { addStoreCommands } from "./storeCommands.js"
import { addSupplierCommands } from "./supplierCommands.js"

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
  otherwise              the embedded store in ~/.local/share/inv
On the embedded store, commands go through a store process that keeps it open (inv store status;
INV_STORE_PROCESS=off opens it in each command instead, INV_STORE_IDLE says when it stops).`

/** `json`: usage errors are printed as JSON, as the command's own errors are. */
export const commandTree = ({
  version,
  json
}: {
  readonly version: string
  readonly json: boolean
}): Command => {
  const program = new Command("inv")
    .description(
      "invkit: products, stock levels and movements, reservations, suppliers and restock orders, on the embedded store or PostgreSQL"
    )
    .version(version)
    .option("--json", "print machine-readable JSON on stdout (errors as JSON on stderr)")
    .option("--data-dir <dir>", "the embedded store's directory (default: INV_HOME, else the XDG data dir)")
    .option("--database-url <url>", "use this PostgreSQL database (default: INV_DATABASE_URL)")
    .option("--server <url>", "use an invkit server (inv-server) instead of a local store (default: INV_URL)")
    .option(
      "--token <token>",
      "bearer token for the server (default: the profile's; INV_TOKEN goes only to INV_URL's server)"
    )
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
          json
            ? `${JSON.stringify({ error: { code: "UsageError", message: text.replace(/^error: /, "").trim() } })}\n`
            : text
        )
      }
    })
    .showHelpAfterError(json ? false : "(add --help for usage)")
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
  inv reservation add SKU-1 2 --for CART-7 --expires-in 15m
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
  addReservationCommands(program)
  addRestockCommands(program)
  addReorderCommands(program)
  addImportExportCommands(program)
  addStoreCommands(program)
  addProfileCommands(program)
  addCompletionCommand(program)
  return program
}
