import type { Location, Stock } from "@invkit/sdk"
import { printJson, printLine, signed, timestamp } from "./output.js"
import { columns, renderRecord, renderTable } from "./table.js"

const changeLine = (change: Stock.StockChange): string =>
  `${change.sku} at ${change.location}: ${change.onHand} on hand (${signed(change.delta)}, ${change.reason})`

export const printChange = (change: Stock.StockChange, json: boolean | undefined): void =>
  json ? printJson(change) : printLine(changeLine(change))

export const printTransfer = (transfer: Stock.TransferResult, json: boolean | undefined): void =>
  json ? printJson(transfer) : printLine(`${changeLine(transfer.from)}\n${changeLine(transfer.to)}`)

export const printLevel = (level: Stock.StockLevel, json: boolean | undefined): void => {
  if (json) {
    printJson(level)
    return
  }
  printLine(
    renderTable(
      ["location", "on hand", "reserved", "available"],
      [
        ...level.locations.map((l) => [l.location, l.onHand, l.reserved, l.available]),
        ["total", level.onHand, level.reserved, level.available]
      ]
    )
  )
  printLine(`${level.sku} (${level.name}): ${level.available} available, reorder point ${level.reorderPoint}`)
}

export const renderStockRows = columns<Stock.StockRow>(
  ["SKU", "name", "location", "on hand", "reserved", "available", "reorder point"],
  (r) => [r.sku, r.name, r.location, r.onHand, r.reserved, r.available, r.reorderPoint]
)

export const renderLowStock = columns<Stock.LowStockItem>(
  ["SKU", "name", "location", "available", "reorder point", "shortfall", "reorder qty"],
  (i) => [i.sku, i.name, i.location, i.available, i.reorderPoint, i.shortfall, i.reorderQuantity]
)

export const renderMovements = columns<Stock.Movement>(
  ["id", "at", "location", "change", "after", "reason", "reference", "actor"],
  (m) => [
    m.id,
    timestamp(m.at),
    m.location,
    signed(m.delta),
    m.quantityAfter,
    m.reason,
    m.reference ?? "",
    m.actor ?? ""
  ]
)

export const printOverview = (overview: Stock.Overview, json: boolean | undefined): void => {
  if (json) {
    printJson(overview)
    return
  }
  printLine(
    renderRecord([
      ["active products", overview.products],
      ["locations", overview.locations],
      ["units on hand", overview.units],
      ["out of stock", overview.outOfStock],
      ["low", overview.low],
      ["ok", overview.ok],
      ["movements", overview.movements]
    ])
  )
}

export const renderLocations = columns<Location.Location>(["code", "name", "created"], (l) => [
  l.code,
  l.name,
  timestamp(l.createdAt)
])
