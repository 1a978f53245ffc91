import type { Restock } from "@invkit/sdk"
import { optionalNumberArgument } from "../../numberArgument.js"
import { fetchListing, type PagingOptions } from "../../options/paging.js"
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
    supplierId: options.supplier,
    limit: optionalNumberArgument(options.limit, "limit")
  }
  const page = await withInventory(options, (inventory) =>
    fetchListing(options, (cursor) => inventory.restock.list({ ...query, cursor }))
  )
  printListing(page, options.json, renderOrders, "No restock orders.")
}
