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

  it("states the rules of a single write's fields, as the batch's schemas state theirs", () => {
    const spec = OpenApi.fromApi(Api.StockUpdaterApi) as unknown as {
      paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: any }> } }>>
    }
    const body = (path: string) =>
      spec.paths[path]!.post!.requestBody.content["application/json"]!.schema.properties as Record<
        string,
        any
      >
    // A generated client read "number" for each of these, and took 1.5 or 0.
    expect(body("/v1/stock/{sku}/adjust").delta).toMatchObject({
      type: "integer",
      minimum: -1_000_000_000,
      maximum: 1_000_000_000,
      not: { const: 0 }
    })
    expect(body("/v1/stock/{sku}/set").quantity).toMatchObject({ type: "integer", minimum: 0 })
    expect(body("/v1/stock/{sku}/transfer").quantity).toMatchObject({ type: "integer", minimum: 1 })
    expect(body("/v1/reservations").quantity).toMatchObject({ type: "integer", minimum: 1 })
    expect(body("/v1/reservations").sku).toMatchObject({ type: "string", maxLength: 64 })
    expect(new RegExp(body("/v1/reservations").sku.pattern).test("..")).toBe(false)
  })
})
