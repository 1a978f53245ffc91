/**
 * The domain rules, each defined once: the SDK's schemas are built on them, the importer checks
 * cells with them, and the CLI words its help and parses its arguments with them. This module
 * imports nothing (also published as `@invkit/sdk/rules`), so the CLI can use it without loading
 * Effect or the rest of the SDK.
 */

// --- Input repeated in errors ----------------------------------------------------------------------

/** The most characters of a refused value an error repeats: enough to find it, never a whole huge cell. */
export const ECHO_MAX_LENGTH = 40

// DEL and C1 besides C0: JSON escapes only C0, and C1 holds the terminal's CSI.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f]/g

const shorten = (text: string) => {
  // Sliced before splitting into characters: a huge value is never copied whole.
  const characters = Array.from(text.slice(0, 2 * ECHO_MAX_LENGTH + 2))
  const shown = characters
    .slice(0, ECHO_MAX_LENGTH)
    .join("")
    .replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
  const more = characters.length > ECHO_MAX_LENGTH ? `… (${text.length.toLocaleString("en")} characters)` : ""
  return { shown, more }
}

/**
 * `text` as an error may repeat it: its first 40 characters, then "…" and its length, with
 * control characters shown as `\u001b`, so that neither a 50 MB cell nor binary bytes reach a
 * message or a terminal.
 */
export const shortenInput = (text: string): string => {
  const { shown, more } = shorten(text)
  return `${shown}${more}`
}

/** A refused value as errors quote it: text in double quotes (`"abc"…`), anything else as JSON. */
export const quoteInput = (value: unknown): string => {
  if (typeof value !== "string") return shortenInput(JSON.stringify(value) ?? String(value))
  const { shown, more } = shorten(value)
  return `"${shown}"${more}`
}
