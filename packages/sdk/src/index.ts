/**
 * @invkit/sdk: the inventory core. Effect users compose the services (`Stock.Stock`,
 * `Product.Products`, `Location.Locations`, `Supplier.Suppliers`, `SupplierSync.SupplierSync`,
 * `Restock.RestockOrders`, `Reservation.Reservations`) with `Inventory.layer`; everyone else calls `openInventory()` and
 * gets Promises.
 */
export * as Api from "./Api.js"
export * as Event from "./Event.js"
export * as Export from "./Export.js"
export * as Idempotency from "./Idempotency.js"
export * as Import from "./Import.js"
export * as Inventory from "./Inventory.js"
export { type Inventory as InventoryClient, type OpenOptions, openInventory } from "./Inventory.js"
export * as InventoryError from "./InventoryError.js"
export {
  Forbidden,
  IdempotencyKeyReused,
  InsufficientStock,
  InvalidInput,
  InventoryClosed,
  LocationAlreadyExists,
  LocationNotFound,
  OverDelivery,
  ProductAlreadyExists,
  ProductNotFound,
  RateLimited,
  RequestTooLarge,
  ReservationClosed,
  ReservationNotFound,
  RestockOrderClosed,
  RestockOrderNotFound,
  StockConflict,
  StoreError,
  SupplierAlreadyExists,
  SupplierInUse,
  SupplierNotFound,
  SyncFailed,
  Unauthorized
} from "./InventoryError.js"
/** For a face that decodes input itself (the server's request checks): the InvalidInput to answer. */
export { invalidInputAt, invalidInputOf } from "./internal/validation.js"
export * as Location from "./Location.js"
export * as Page from "./Page.js"
export * as Product from "./Product.js"
export * as Remote from "./Remote.js"
export { type ConnectOptions, connect } from "./Remote.js"
export * as Reorder from "./Reorder.js"
export * as Reservation from "./Reservation.js"
export * as Restock from "./Restock.js"
export * as Rules from "./Rules.js"
export * as Stock from "./Stock.js"
export * as Store from "./Store.js"
export * as Supplier from "./Supplier.js"
export * as SupplierSync from "./SupplierSync.js"
export * as SyncJobs from "./SyncJobs.js"
