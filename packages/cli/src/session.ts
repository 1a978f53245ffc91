/**
 * One command's use of the inventory: open it where the global options point (or where the SDK's
 * own configuration points: INV_URL, INV_DATABASE_URL, INV_HOME, XDG_DATA_HOME), use it, close it.
 */
import { userInfo } from "node:os"
import { type InventoryClient, openInventory } from "@invkit/sdk"

export interface GlobalOptions {
  readonly json?: boolean
  readonly dataDir?: string
  readonly databaseUrl?: string
  /** `--server`: an invkit server instead of a local store. */
  readonly server?: string
  readonly token?: string
}

export interface WriteOptions {
  readonly reference?: string
  readonly actor?: string
  readonly idempotencyKey?: string
}

/** Always closes, also on failure: the embedded store flushes its data on close. */
export const withInventory = async <A>(
  options: GlobalOptions,
  use: (inventory: InventoryClient) => Promise<A>
): Promise<A> => {
  const inventory = await openInventory({
    dataDir: options.dataDir,
    databaseUrl: options.databaseUrl,
    url: options.server,
    token: options.token
  })
  try {
    return await use(inventory)
  } finally {
    await inventory.close()
  }
}

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
