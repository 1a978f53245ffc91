import { optionalNumberArgument } from "../numberArgument.js"

/**
 * An option that can also be cleared: commander gives `false` for `--no-<option>`, and the word
 * `none` clears it too (easier to pass from a script that fills in values). Undefined: unchanged.
 */
export type ClearableOption = string | false | undefined

const isCleared = (value: ClearableOption): value is false | "none" => value === false || value === "none"

export const clearableNumber = (value: ClearableOption, field: string): number | null | undefined =>
  isCleared(value) ? null : optionalNumberArgument(value, field)

export const clearableText = (value: ClearableOption): string | null | undefined =>
  isCleared(value) ? null : value
