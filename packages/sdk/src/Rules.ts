/**
 * The domain rules, each defined once: the SDK's schemas are built on them, the importer checks
 * cells with them, and the CLI words its help and parses its arguments with them. This module
 * imports nothing (also published as `@invkit/sdk/rules`), so the CLI can use it without loading
 * Effect or the rest of the SDK.
 */

// --- SKUs and location codes --------------------------------------------------------------------

export const CODE_MAX_LENGTH = 64
// Not `.` or `..` alone: in a URL's path that is a step (resolved away whatever its encoding), so
// such a product could be made over HTTP but never named again by the CLI or the SDK.
export const CODE_PATTERN = new RegExp(`^(?!\\.\\.?$)[A-Za-z0-9\\-_.:/]{1,${CODE_MAX_LENGTH}}$`)

/** What a SKU or a location code may be made of, as the help and an error say it. */
export const CODE_CHARACTERS = "letters, digits and - _ . : /"
export const CODE_RULE = `may contain only ${CODE_CHARACTERS} (no spaces), and is not . or .. alone`

/** Whether `text` is a SKU or location code: 1 to 64 letters, digits and `- _ . : /`, not `.` or `..`. */
export const isCode = (text: string): boolean => CODE_PATTERN.test(text)

// --- Names ---------------------------------------------------------------------------------------

/** The longest name of a product, location or supplier; and of a unit. */
export const NAME_MAX_LENGTH = 200
export const UNIT_MAX_LENGTH = 32

/**
 * Spaces around a name or unit are refused, never dropped: dropping them would store something
 * other than what was given (an import's cell, an SDK call), and " Widget" beside "Widget" is
 * almost always a spreadsheet's accident that the person should see.
 */
export const SPACES_RULE = "must not start or end with a space"

/** Whether `text` has no space (of any kind) at its start or end. */
export const isTrimmed = (text: string): boolean => text.trim() === text

// --- Supplier ids --------------------------------------------------------------------------------

export const SUPPLIER_ID_MAX_LENGTH = 64
/** Lower case, so that `acme` and `Acme` are never two suppliers; no `:` or `/` (ids name queues). */
export const SUPPLIER_ID_PATTERN = /^[a-z0-9][a-z0-9\-_.]*$/
export const SUPPLIER_ID_RULE = "may contain only lower-case letters, digits and - _ . (e.g. acme)"

/** Whether `text` is a supplier id: 1 to 64 lower-case letters, digits and `- _ .`, not starting with a sign. */
export const isSupplierId = (text: string): boolean =>
  text.length <= SUPPLIER_ID_MAX_LENGTH && SUPPLIER_ID_PATTERN.test(text)

// --- Pages ----------------------------------------------------------------------------------------

/** Rows per page of a list, unless the caller asks for another number of them. */
export const DEFAULT_LIMIT = 50
/** The most rows one page may hold; more come page by page, never cut off. */
export const MAX_LIMIT = 1000
export const LIMIT_RULE = `must be between 1 and ${MAX_LIMIT}`

// --- Quantities, levels and deltas ---------------------------------------------------------------

/**
 * The most units one change may name, and the most one location may hold: a level that `set`
 * and an import accept is also the most `adjust`, `transfer` and a restock receipt may reach, so
 * every export imports back.
 */
export const MAX_QUANTITY = 1_000_000_000
export const MAX_LEVEL = MAX_QUANTITY

export const QUANTITY_RULE = `must be a whole number from 0 to ${MAX_QUANTITY}`

/** A quantity that moves units (a hold, a fulfilment): none is no request. */
export const UNITS_RULE = `must be a whole number from 1 to ${MAX_QUANTITY}`
// "other than 0", not ", not 0": an error goes on to quote the refused value as ", not \"…\"".
export const DELTA_RULE = `must be a whole number from -${MAX_QUANTITY} to ${MAX_QUANTITY} other than 0`
export const LEVEL_RULE = `may hold at most ${MAX_LEVEL} units`

export const isQuantity = (value: number): boolean =>
  Number.isInteger(value) && value >= 0 && value <= MAX_QUANTITY

export const isDelta = (value: number): boolean =>
  Number.isInteger(value) && value !== 0 && Math.abs(value) <= MAX_QUANTITY

// Decimal digits and nothing else: no sign, exponent, fraction, hex or surrounding space, so
// `1e3`, `+5`, `5.0`, `-0` and ` 5` mean nothing anywhere rather than something somewhere.
const DIGITS = /^[0-9]+$/
const SIGNED_DIGITS = /^-?[0-9]+$/

/** How a quantity (or any count) is written as text. */
export const QUANTITY_TEXT_RULE = "must be written in digits only, e.g. 40"
/** How a delta is written as text. */
export const DELTA_TEXT_RULE = "must be written in digits with an optional leading minus, e.g. -3 or 12"

/** A quantity (or any count) written as text: its number, or undefined if not written by the rule. */
export const parseQuantity = (text: string): number | undefined =>
  DIGITS.test(text) ? Number(text) : undefined

/** A delta written as text: its number, or undefined if not written by the rule. */
export const parseDelta = (text: string): number | undefined => {
  // `-0` is a sign on nothing: refused as text, not left for the range check to call it zero.
  if (!SIGNED_DIGITS.test(text) || /^-0+$/.test(text)) return undefined
  return Number(text)
}

// --- Reservations -----------------------------------------------------------------------------------

/** The longest a hold may be set to last: a cart or an order that waits longer is held without expiry. */
export const MAX_HOLD_SECONDS = 30 * 24 * 60 * 60

export const EXPIRES_IN_RULE = "must be a duration such as 90s, 15m, 2h or 7d, from 1 second to 30 days"

const DURATION = /^([0-9]{1,9})(s|m|h|d)$/
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const

/** A hold's duration written as text (`15m`): its seconds, or undefined if not written by the rule. */
export const parseExpiresIn = (text: string): number | undefined => {
  const match = DURATION.exec(text)
  if (match === null) return undefined
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS]
  return seconds >= 1 && seconds <= MAX_HOLD_SECONDS ? seconds : undefined
}

// --- Reasons -------------------------------------------------------------------------------------

/** Why stock changed; every movement in the ledger names one. */
export const REASONS = [
  "receipt",
  "sale",
  "adjustment",
  "count",
  "transfer",
  "return",
  "damage",
  "restock"
] as const
export type Reason = (typeof REASONS)[number]

export const REASON_RULE = `must be one of ${REASONS.join(", ")}`

// --- Text ------------------------------------------------------------------------------------------

// Cc: C0 (tab and line breaks included), DEL and C1. ESC starts the sequences that move a
// terminal's cursor, change its colours or its title, so stored text must not carry any of them.
// Nor the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069): they
// reverse how the rest of a line reads ("Trojan Source"), so a name could pass for another in a
// listing. Other format characters (zero-width joiners in emoji, soft hyphens) stay allowed.
// The line and paragraph separators (U+2028, U+2029) are line breaks too. An unpaired surrogate
// (Cs; JSON's "\ud800" escape) is no character: UTF-8 cannot carry it, so it would be stored as
// U+FFFD, something other than what was given.
const CONTROL = /[\p{Cc}\p{Cs}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u
const CONTROL_ALL = /[\p{Cc}\p{Cs}\u2028\u2029\u202A-\u202E\u2066-\u2069]/gu

export const TEXT_RULE =
  "must not contain control characters (tabs, line breaks, escape sequences, bidirectional overrides, unpaired surrogates)"

/** Whether names, codes, references and the like may hold `text`: no control characters. */
export const isPlainText = (text: string): boolean => !CONTROL.test(text)

/**
 * One control character as `\u001b`: readable, and in JSON the escape JSON.stringify itself
 * writes for C0 (it leaves DEL and C1 raw), so a JSON document still parses to the same value.
 */
export const escapeControlCharacter = (c: string): string =>
  `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

/** `text` with each control character escaped, to quote or print text safely. */
export const showControlCharacters = (text: string): string =>
  text.replace(CONTROL_ALL, escapeControlCharacter)

// --- Moments -------------------------------------------------------------------------------------

// A date and time with its offset (RFC 3339): `2026-12-08T10:00:00` alone is read in the time zone
// of whatever machine parses it, so a hold given that way would expire at another moment on the
// server than the caller meant.
const MOMENT =
  /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$/

export const MOMENT_RULE =
  "must be a date and time with its offset, e.g. 2026-11-25T10:00:00Z or 2026-11-25T12:00:00+02:00"

/** A moment written as text, if written by the rule (`MOMENT_RULE`) and a real one. */
export const parseMoment = (text: string): Date | undefined => {
  if (!MOMENT.test(text)) return undefined
  // JavaScript reads 2026-02-30 as 2 March: a day past its month's last is no date.
  const [year, month, day] = text.slice(0, 10).split("-").map(Number) as [number, number, number]
  if (day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined
  const moment = new Date(text)
  return Number.isNaN(moment.getTime()) ? undefined : moment
}

// --- Who made a change ----------------------------------------------------------------------------

/** The longest reference, note or actor a change records. */
export const NOTE_MAX_LENGTH = 200

export const ACTOR_RULE = `must be 1 to ${NOTE_MAX_LENGTH} characters without control characters`

/**
 * Whether `text` can be recorded as who made a change. Over HTTP that is a token's subject, so a
 * token whose subject is not one could authenticate and never write.
 */
export const isActor = (text: string): boolean =>
  text.length >= 1 && text.length <= NOTE_MAX_LENGTH && isPlainText(text)

// --- JSON documents --------------------------------------------------------------------------------

/**
 * The deepest nesting a request body or an event may have: no document of this API needs more
 * than a few levels (a batch's change is 3), and decoders and error messages recurse into values,
 * so a deeply nested one would exhaust the stack before it could be refused.
 */
export const MAX_NESTING = 32

export const NESTING_RULE = `nests deeper than ${MAX_NESTING} levels; no request or event of this API needs that`

/** Whether the JSON `text` opens more than MAX_NESTING objects or arrays inside each other. */
export const nestsTooDeep = (text: string): boolean => {
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (char === 34) {
      // A string: skip to its closing quote, past escaped characters.
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++
    } else if (char === 123 || char === 91) {
      if (++depth > MAX_NESTING) return true
    } else if (char === 125 || char === 93) {
      depth--
    }
  }
  return false
}

// --- Input repeated in errors ----------------------------------------------------------------------

/** The most characters of a refused value an error repeats: enough to find it, never a whole huge cell. */
export const ECHO_MAX_LENGTH = 40

const shorten = (text: string) => {
  // Sliced before splitting into characters: a huge value is never copied whole.
  const characters = Array.from(text.slice(0, 2 * ECHO_MAX_LENGTH + 2))
  const shown = showControlCharacters(characters.slice(0, ECHO_MAX_LENGTH).join(""))
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
