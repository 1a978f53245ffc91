import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderLocations } from "../../ui/stock.js"

export const run = async (options: GlobalOptions): Promise<void> => {
  const items = await withInventory(options, (inventory) => inventory.locations.list())
  printListing({ items, nextCursor: null }, options.json, renderLocations, "No locations.")
}
