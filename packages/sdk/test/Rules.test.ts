import { describe, expect, it } from "vitest"
import {
  ECHO_MAX_LENGTH,
  isCode,
  isPlainText,
  MAX_NESTING,
  nestsTooDeep,
  parseMoment,
  quoteInput,
  shortenInput
} from "../src/Rules.js"

describe("moments", () => {
  it("takes a date and time with its offset, and nothing a machine would read in its own time zone", () => {
    expect(parseMoment("2026-11-25T10:00:00Z")?.toISOString()).toBe("2026-11-25T10:00:00.000Z")
    expect(parseMoment("2026-11-25T12:00:00+02:00")?.toISOString()).toBe("2026-11-25T10:00:00.000Z")
    expect(parseMoment("2026-11-25T10:00:00.123456Z")?.toISOString()).toBe("2026-11-25T10:00:00.123Z")
    expect(parseMoment("2026-11-25T10:00Z")?.toISOString()).toBe("2026-11-25T10:00:00.000Z")
    expect(parseMoment("2028-02-29T00:00:00Z")?.toISOString()).toBe("2028-02-29T00:00:00.000Z")
    for (const text of [
      "2026-11-25T10:00:00",
      "2026-11-25",
      "Nov 25 2026",
      "2026-13-40T10:00:00Z",
      // JavaScript's Date takes these as 2 March and 1 May.
      "2026-02-30T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2026-04-00T00:00:00Z",
      "",
      "1764064800"
    ]) {
      expect(parseMoment(text), text).toBeUndefined()
    }
  })
})

describe("codes and plain text", () => {
  it("refuses a SKU that is only a step of a URL's path", () => {
    // `.` and `..` are resolved away in a URL whatever their encoding: such a product could be
    // made over HTTP and never named again.
    expect([".", ".."].map(isCode)).toEqual([false, false])
    expect(["...", "a.", ".a", "a/../b", "BOX/12", "SKU-1"].map(isCode)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true
    ])
  })

  it("refuses the line and paragraph separators and unpaired surrogates, and keeps paired ones", () => {
    expect(["a\u2028b", "a\u2029b", "\ud800", "a\udfffb", "\udc00\ud800"].map(isPlainText)).toEqual([
      false,
      false,
      false,
      false,
      false
    ])
    expect(["😀", "👩\u200D💻", "é", "日本"].map(isPlainText)).toEqual([true, true, true, true])
    expect(quoteInput("a\ud800b")).toBe('"a\\ud800b"')
  })
})

describe("the input an error repeats", () => {
  it("is cut to its first characters with its length, and shows control characters", () => {
    expect(quoteInput("abc")).toBe('"abc"')
    const huge = "x".repeat(50 * 1024 * 1024)
    expect(quoteInput(huge)).toBe(`"${"x".repeat(ECHO_MAX_LENGTH)}"… (52,428,800 characters)`)
    expect(quoteInput("\u001b[31mred\u0000\u009b")).toBe('"\\u001b[31mred\\u0000\\u009b"')
    expect(quoteInput("a\u202Eb\u2066c")).toBe('"a\\u202eb\\u2066c"')
    // A zero-width joiner (emoji sequences) is no control character.
    expect(quoteInput("👩\u200D💻")).toBe('"👩\u200D💻"')
    expect(quoteInput(12)).toBe("12")
    expect(quoteInput({ quantity: "x".repeat(100) })).toMatch(/^\{"quantity":"x+… \(115 characters\)$/)
    expect(shortenInput("é".repeat(45))).toBe(`${"é".repeat(40)}… (45 characters)`)
    // A character outside the basic plane is never cut in half.
    expect(shortenInput("😀".repeat(41))).toBe(`${"😀".repeat(40)}… (82 characters)`)
  })
})

describe("the nesting of a JSON document", () => {
  it("counts objects and arrays inside each other, not brackets inside strings", () => {
    const nested = (n: number) => `${'{"a":['.repeat(n)}1${"]}".repeat(n)}`
    expect(nestsTooDeep(nested(MAX_NESTING / 2))).toBe(false)
    expect(nestsTooDeep(nested(MAX_NESTING / 2 + 1))).toBe(true)
    expect(nestsTooDeep(`{"text": "${"[".repeat(1000)}"}`)).toBe(false)
    expect(nestsTooDeep(`{"text": "\\"${"{".repeat(1000)}\\\\", "b": []}`)).toBe(false)
    expect(nestsTooDeep(`${"[".repeat(3000)}${"]".repeat(3000)}`)).toBe(true)
    // Siblings do not add up.
    expect(nestsTooDeep(`[${Array.from({ length: 100 }, () => "[[]]").join(",")}]`)).toBe(false)
  })
})
