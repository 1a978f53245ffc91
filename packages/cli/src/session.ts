/**
 * One command's use of the inventory: open it where the global options point (or where the SDK's
 * own configuration points: INV_DATABASE_URL, INV_HOME, XDG_DATA_HOME), use it, close it.
 */
import { userInfo } from "node:os"
import { type InventoryClient, LocationNotFound, openInventory } from "@invkit/sdk"
import * as Cause from "effect/Cause"
import * as Runtime from "effect/Runtime"

export interface GlobalOptions {
  readonly json?: boolean
  readonly dataDir?: string
  readonly databaseUrl?: string
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
  const inventory = await openInventory({ dataDir: options.dataDir, databaseUrl: options.databaseUrl }).catch(
    (error: unknown) => {
      // A store that cannot be opened rejects with Effect's FiberFailure wrapping the StoreError;
      // unwrapped, it gets its own code and exit status like every other domain error.
      throw Runtime.isFiberFailure(error) ? Cause.squash(error[Runtime.FiberFailureCauseId]) : error
    }
  )
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

/** Who, why and which key for a write; the actor defaults to the person running `inv`. */
export const changeContext = (options: WriteOptions) => ({
  reference: options.reference,
  actor: options.actor ?? operatingSystemUser(),
  idempotencyKey: options.idempotencyKey
})

/**
 * Reads filtered by an unknown location answer "nothing here" in the SDK; a typo should not look
 * like an empty warehouse, so the CLI says the location does not exist.
 */
export const requireKnownLocation = async (
  inventory: InventoryClient,
  location: string | undefined
): Promise<void> => {
  if (location === undefined) return
  const known = await inventory.locations.list()
  if (!known.some((each) => each.code === location)) throw new LocationNotFound({ location })
}
