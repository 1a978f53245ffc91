import type { Command } from "commander"

const collect = (value: string, previous: ReadonlyArray<string> = []) => [...previous, value]

export const addImportExportCommands = (program: Command): void => {
  program
    .command("import")
    .description("import products, stock counts or adjustments from a CSV or NDJSON file (- for stdin)")
    .argument("<file>", "the file, or - for standard input")
    .option(
      "--kind <kind>",
      "products, stock (absolute counts) or adjustments (deltas); default: from the header"
    )
    .option("--format <format>", "csv or ndjson; default: from the file name, else from the content")
    .option(
      "--delimiter <char>",
      "CSV: , ; | or tab between the columns; default: ; or tab when the header has more of them than commas"
    )
    .option(
      "--map <column=field>",
      "read a column under another name, e.g. --map count=quantity (repeatable)",
      collect
    )
    .option(
      "--errors <file>",
      "write the rejected rows to this file (CSV, or NDJSON for .ndjson) to fix and import again"
    )
    .option(
      "--on-error <mode>",
      "skip: import the valid rows (default); abort: any rejected row and nothing is written",
      "skip"
    )
    .option("--dry-run", "check every row and print what would change, without writing")
    .option("--import-id <id>", "name the import (default: the file's SHA-256); an id is applied once only")
    .option("--actor <name>", "who made the changes (default: your user name)")
    .addHelpText(
      "after",
      `
Examples:
  inv import products.csv
  inv import counts.csv --errors rejected.csv
  inv import - --kind adjustments < deltas.ndjson
  inv import stock.csv --map Item=sku --map Count=quantity --dry-run
  inv import counts.txt --delimiter tab

Columns: docs/import.md. Exit code 8 when rows were rejected.`
    )
    .action(async (file, _options, command: Command) => {
      const { run } = await import("../commands/import/run.js")
      await run(file, command.optsWithGlobals())
    })

  program
    .command("export")
    .description("export products, stock levels or movements as CSV, NDJSON or JSON")
    .argument("<what>", "products, stock or movements")
    .option("--format <format>", "csv (default), ndjson or json")
    .option("--since <time>", "only what changed at or after this time, e.g. 2026-11-25T10:00:00Z")
    .option("--output <file>", "write to this file instead of stdout")
    .action(async (what, _options, command: Command) => {
      const { run } = await import("../commands/export/run.js")
      await run(what, command.optsWithGlobals())
    })
}
