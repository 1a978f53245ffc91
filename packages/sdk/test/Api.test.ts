/** The contract documents itself: every operation of every API says what it does and who may call it. */
import * as OpenApi from "@effect/platform/OpenApi"
import { describe, expect, it } from "vitest"
import { Api } from "../src/index.js"

const apis = {
  invkit: Api.InventoryApi,
  "stock-updater": Api.StockUpdaterApi,
  "stock-checker": Api.StockCheckerApi,
  "supplier-sync": Api.SupplierSyncApi
}

describe("the contract's OpenAPI document", () => {
  it.each(Object.entries(apis))("%s: every operation has a summary and a description", (_, api) => {
    const spec = OpenApi.fromApi(api)
    const operations = Object.entries(spec.paths).flatMap(([path, methods]) =>
      Object.entries(methods as Record<string, { summary?: string; description?: string }>).map(
        ([method, operation]) => ({ what: `${method.toUpperCase()} ${path}`, ...operation })
      )
    )
    expect(operations.length).toBeGreaterThan(0)
    const undocumented = operations
      .filter(({ summary, description }) => !summary?.trim() || !description?.trim())
      .map(({ what }) => what)
    expect(undocumented).toEqual([])
  })
})
