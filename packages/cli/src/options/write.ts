import { userInfo } from "node:os"
import { REASONS } from "@invkit/sdk/rules"
import type { Command } from "commander"

export interface WriteOptions {
  readonly reference?: string
  readonly actor?: string
  readonly idempotencyKey?: string
}

/** Who, why and which key: every write takes them. */
export const withWriteOptions = (command: Command): Command =>
  command
    .option("--reference <text>", "what this change belongs to, e.g. an order number")
    .option("--actor <name>", "who made the change (default: your user name)")
    .option(
      "--idempotency-key <key>",
      "run this change at most once: the same key with the same change answers again without applying it"
    )

export const reasons = REASONS.join(", ")

const operatingSystemUser = (): string | undefined => {
  try {
    return userInfo().username
  } catch {
    // No passwd entry (some containers): the movement is recorded without an actor.
    return undefined
  }
}

/** The actor of a write: as given, else the person running `inv`. */
export const actorOf = (actor: string | undefined): string | undefined => actor ?? operatingSystemUser()

/** Who, why and which key for a write; the actor defaults to the person running `inv`. */
export const changeContext = (options: WriteOptions) => ({
  reference: options.reference,
  actor: actorOf(options.actor),
  idempotencyKey: options.idempotencyKey
})
