/**
 * @invkit/sdk: the inventory core. Effect users compose the services (`Stock.Stock`,
 * `Product.Products`, `Location.Locations`) with `Inventory.layer`; everyone else calls
 * `openInventory()` and gets Promises.
 */
export * as Inventory from "./Inventory.js"
export { type Inventory as InventoryClient, type OpenOptions, openInventory } from "./Inventory.js"
export * as InventoryError from "./InventoryError.js"
export {
  IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  LocationAlreadyExists,
  LocationNotFound,
  ProductAlreadyExists,
  ProductNotFound,
  StockConflict,
  StoreError
} from "./InventoryError.js"
export * as Location from "./Location.js"
export * as Page from "./Page.js"
export * as Product from "./Product.js"
export * as Stock from "./Stock.js"
export * as Store from "./Store.js"
