import { describe, expect, it } from "vitest"
import { ECHO_MAX_LENGTH, quoteInput, shortenInput } from "../src/Rules.js"

describe("the input an error repeats", () => {
  it("is cut to its first characters with its length, and shows control characters", () => {
    expect(quoteInput("abc")).toBe('"abc"')
    const huge = "x".repeat(50 * 1024 * 1024)
    expect(quoteInput(huge)).toBe(`"${"x".repeat(ECHO_MAX_LENGTH)}"… (52,428,800 characters)`)
    expect(quoteInput("\u001b[31mred\u0000\u009b")).toBe('"\\u001b[31mred\\u0000\\u009b"')
    expect(quoteInput(12)).toBe("12")
    expect(quoteInput({ quantity: "x".repeat(100) })).toMatch(/^\{"quantity":"x+… \(115 characters\)$/)
    expect(shortenInput("é".repeat(45))).toBe(`${"é".repeat(40)}… (45 characters)`)
    // A character outside the basic plane is never cut in half.
    expect(shortenInput("😀".repeat(41))).toBe(`${"😀".repeat(40)}… (82 characters)`)
  })
})
