import type { Command } from "commander"

/** `--limit`, `--cursor`, `--all`: every paged list takes them. */
export const withPagingOptions = (command: Command, rows = "rows"): Command =>
  command
    .option("--limit <n>", `${rows} per page (1-1000)`, "50")
    .option("--cursor <cursor>", "the next page, as printed by the previous one")
    .option("--all", "every page")
