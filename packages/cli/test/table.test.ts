/**
 * The table renderer, without a clock: its work is counted in cells measured, which must grow
 * with the rows (the renderer it replaced measured every cell eight times and laid the table out
 * in time that grew with the square of the rows: 8–9 s for 10,000).
 */
import { describe, expect, it, vi } from "vitest"
import { renderRecord, renderTable } from "../src/ui/table.js"

const measured = vi.hoisted(() => ({ cells: 0 }))

vi.mock("string-width", async (importOriginal) => {
  const { default: stringWidth } = await importOriginal<typeof import("string-width")>()
  return {
    default: (text: string) => {
      measured.cells += 1
      return stringWidth(text)
    }
  }
})

const head = ["SKU", "name", "unit", "reorder point", "reorder qty", "status"]
const rowsOf = (count: number) =>
  Array.from({ length: count }, (_, i) => [`SKU-${i}`, `Item ${i}`, "each", i % 7, 20, "active"])

describe("renderTable", () => {
  it("keeps the small-table look: upper-case heads, columns two spaces apart, no trailing spaces", () => {
    expect(
      renderTable(
        ["SKU", "name", "status"],
        [
          ["A-1", "Apple", "active"],
          ["BB-22", "Banana split", ""]
        ]
      )
    ).toBe(["SKU    NAME          STATUS", "A-1    Apple         active", "BB-22  Banana split"].join("\n"))
    expect(
      renderRecord([
        ["name", "Apple"],
        ["reorder point", 5]
      ])
    ).toBe(["name:           Apple", "reorder point:  5"].join("\n"))
  })

  it("aligns by display width, wide characters too", () => {
    expect(
      renderTable(
        ["name", "unit"],
        [
          ["箱子", "box"],
          ["crate", "box"]
        ]
      )
    ).toBe(["NAME   UNIT", "箱子   box", "crate  box"].join("\n"))
  })

  it("measures each cell once, so 10,000 rows cost ten times 1,000", () => {
    for (const rows of [1_000, 10_000]) {
      measured.cells = 0
      const lines = renderTable(head, rowsOf(rows)).split("\n")
      expect(lines).toHaveLength(rows + 1)
      expect(measured.cells).toBe((rows + 1) * head.length)
      // Every row's second column starts where the heading's does.
      const nameAt = lines[0]!.indexOf("NAME")
      expect(lines.every((line, i) => i === 0 || line.slice(nameAt).startsWith("Item "))).toBe(true)
    }
  })
})
