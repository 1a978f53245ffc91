import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Effect from "effect/Effect"
import type { Inventory } from "../Inventory.js"
import type { JobsDatabase } from "./jobsDatabase.js"

/** What bulk import and export need of a local store: its database, beside the public interface. */
export type LocalServices = SqlClient.SqlClient | JobsDatabase

export interface LocalStore {
  readonly run: <A, E>(effect: Effect.Effect<A, E, LocalServices>) => Promise<A>
}

/**
 * The facades `openInventory` made over a local store (embedded or PostgreSQL), so bulk import
 * and export can take their set-based fast path for them, and the public interface for any
 * other `Inventory` (a server, a caller's own implementation).
 */
const stores = new WeakMap<Inventory, LocalStore>()

export const registerLocalStore = (inventory: Inventory, store: LocalStore): Inventory => {
  stores.set(inventory, store)
  return inventory
}

export const localStoreOf = (inventory: Inventory): LocalStore | undefined => stores.get(inventory)
