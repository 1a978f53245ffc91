/** The paging flags every list takes: `--limit`, `--cursor`, `--all`. */
import { MAX_LIMIT } from "@invkit/sdk/rules"
import { describe, expect, it } from "vitest"
import { pagingOf } from "../src/options/paging.js"

describe("the paging flags", () => {
  it("leave a page to the SDK's default size, and with --all ask for the largest pages", () => {
    expect(pagingOf({}).limit).toBeUndefined()
    expect(pagingOf({ all: true }).limit).toBe(MAX_LIMIT)
  })

  it("keep the --limit given, with --all or without", () => {
    expect(pagingOf({ limit: "10" }).limit).toBe(10)
    expect(pagingOf({ all: true, limit: "10" }).limit).toBe(10)
  })
})
