import type { Reorder, Restock } from "@invkit/sdk"
import { printJson, printLine, timestamp } from "./output.js"
import { columns, renderRecord } from "./table.js"

const supplierOf = (order: Restock.RestockOrder): string =>
  order.supplierId === null ? "none" : `${order.supplierId} (${order.supplierSku ?? "?"})`

export const renderOrders = columns<Restock.RestockOrder>(
  ["id", "SKU", "location", "supplier", "quantity", "received", "unit cost", "status", "created"],
  (o) => [
    o.id,
    o.sku,
    o.location,
    supplierOf(o),
    o.quantity,
    o.receivedQuantity,
    o.unitCost ?? "",
    o.status,
    timestamp(o.createdAt)
  ]
)

export const printOrder = (order: Restock.RestockOrder, json: boolean | undefined): void => {
  if (json) {
    printJson(order)
    return
  }
  printLine(
    renderRecord([
      ["order", order.id],
      ["SKU", order.sku],
      ["location", order.location],
      ["supplier", supplierOf(order)],
      ["quantity", order.quantity],
      [
        "received",
        order.overDelivered > 0
          ? `${order.receivedQuantity} (${order.overDelivered} over)`
          : order.receivedQuantity
      ],
      ["unit cost", order.unitCost ?? "unknown"],
      ["status", order.status],
      ["created", timestamp(order.createdAt)],
      ["submitted", order.submittedAt === null ? "" : timestamp(order.submittedAt)],
      ["closed", order.closedAt === null ? "" : timestamp(order.closedAt)],
      ["why", order.explanation.summary]
    ])
  )
}

const supplierChoice = (choice: Reorder.SupplierChoice | null): string =>
  choice === null
    ? "none: no active supplier offers it with stock"
    : `${choice.supplierId} (item ${choice.supplierSku}), ${choice.why === "preferred" ? "the preferred supplier" : "the cheapest with stock"}`

const supplierTerms = (choice: Reorder.SupplierChoice | null): string =>
  choice === null
    ? ""
    : `unit cost ${choice.unitCost ?? "unknown"}, availability ${choice.availability ?? "unknown"}, minimum order ${choice.minOrderQty}, pack of ${choice.packSize}`

/** Per location, everything the reorder rule looked at and what it decided. */
export const printExplanations = (
  explanations: ReadonlyArray<Reorder.ReorderExplanation>,
  json: boolean | undefined
): void => {
  if (json) {
    printJson({ items: explanations, nextCursor: null })
    return
  }
  const blocks = explanations.map((e) =>
    [
      `${e.sku} at ${e.location}`,
      renderRecord([
        ["on hand", e.onHand],
        ["reserved", e.reserved],
        ["available", e.available],
        ["reorder point", e.reorderPoint],
        ["reorder quantity", e.reorderQuantity],
        ["max level", e.maxLevel ?? "none"],
        ["open order", e.openOrderId ?? "none"],
        ["supplier", supplierChoice(e.supplier)],
        ...(e.supplier === null ? [] : [["supplier terms", supplierTerms(e.supplier)] as const]),
        ["wanted", e.wanted],
        ["rounding", e.rounding],
        ["quantity", e.quantity],
        ["decision", e.summary]
      ])
    ].join("\n")
  )
  printLine(blocks.join("\n\n"))
}
