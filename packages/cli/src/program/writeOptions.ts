import type { Command } from "commander"

/** Who, why and which key: every write takes them. */
export const withWriteOptions = (command: Command): Command =>
  command
    .option("--reference <text>", "what this change belongs to, e.g. an order number")
    .option("--actor <name>", "who made the change (default: your user name)")
    .option(
      "--idempotency-key <key>",
      "run this change at most once: the same key with the same change answers again without applying it"
    )

export const reasons = "receipt, sale, adjustment, count, transfer, return, damage, restock"
