import type { Restock } from "@invkit/sdk"
import { fetchListing, type PagingOptions, pagingOf } from "../../options/paging.js"
import { type GlobalOptions, withInventory } from "../../session.js"
import { printListing } from "../../ui/listing.js"
import { renderOrders } from "../../ui/restock.js"

export interface ListOrdersOptions extends GlobalOptions, PagingOptions {
  readonly status?: string
  readonly open?: boolean
  readonly sku?: string
  readonly supplier?: string
}

export const run = async (options: ListOrdersOptions): Promise<void> => {
  const query = {
    // Any text: the SDK checks it against the statuses it knows and says which those are.
    status: options.status as Restock.OrderStatus | undefined,
    open: options.open ? true : undefined,
    sku: options.sku,
    supplierId: options.supplier
  }
  const paging = pagingOf(options)
  const page = await withInventory(options, (inventory) =>
    fetchListing(paging, (request) => inventory.restock.list({ ...query, ...request }))
  )
  printListing(page, options.json, renderOrders, "No restock orders.")
}
