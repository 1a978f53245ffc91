/**
 * For Effect users: the same core as services. `Inventory.layer` opens a store (here the
 * embedded one in memory) and provides `Stock`, `Products` and `Locations`; errors are typed.
 */
import { Inventory, Product, Stock, Store } from "@invkit/sdk"
import { Console, Effect } from "effect"

const program = Effect.gen(function* () {
  const products = yield* Product.Products
  const stock = yield* Stock.Stock

  yield* products.add({
    sku: "BOLT-M8",
    name: "M8 bolt",
    unit: "box",
    reorderPoint: 20,
    reorderQuantity: 100
  })
  yield* stock.set({ sku: "BOLT-M8", quantity: 25, reason: "count" })
  const sale = yield* stock.adjust({ sku: "BOLT-M8", delta: -9, reason: "sale", idempotencyKey: "order-77" })
  // The same request with the same key is answered again, not applied again.
  const again = yield* stock.adjust({ sku: "BOLT-M8", delta: -9, reason: "sale", idempotencyKey: "order-77" })
  yield* Console.log(`sold 9, ${sale.onHand} left; replay gives movement ${again.movementId} again`)

  // Typed failures: handle the ones you expect by tag.
  yield* stock
    .adjust({ sku: "BOLT-M8", delta: -1000, reason: "sale" })
    .pipe(
      Effect.catchTag("InsufficientStock", (error) => Console.log(`refused: ${error.available} available`))
    )
  const { items: low } = yield* stock.low()
  yield* Console.log(`low: ${low.map((item) => `${item.sku} (${item.available})`).join(", ")}`)
})

Effect.runPromise(program.pipe(Effect.provide(Inventory.layer(Store.embedded(undefined))))).catch((error) => {
  console.error(error)
  process.exit(1)
})
