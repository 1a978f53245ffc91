import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InvalidInput, StoreError } from "../InventoryError.js"
import {
  CODE_MAX_LENGTH,
  CODE_PATTERN,
  CODE_RULE,
  isPlainText,
  isTrimmed,
  SPACES_RULE,
  shortenInput,
  TEXT_RULE
} from "../Rules.js"

/** Base types whose own failure reads as a rule, not as a type dump ("Expected number, actual …"). */
export const NumberInput = Schema.Number.annotations({ message: () => "must be a number" })
export const TextInput = Schema.String.annotations({ message: () => "must be text" })
export const BooleanInput = Schema.Boolean.annotations({ message: () => "must be true or false" })

/** Names, codes, references, actors, keys: text that may be printed to a terminal later. */
export const PlainText = TextInput.pipe(Schema.filter(isPlainText, { message: () => TEXT_RULE }))

/** A SKU or a location code, by the one rule for both. */
export const Code = TextInput.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(CODE_MAX_LENGTH, { message: () => `must be at most ${CODE_MAX_LENGTH} characters` }),
  Schema.pattern(CODE_PATTERN, { message: () => CODE_RULE })
)

/** The name of a product, location or supplier, or a unit: taken as given or refused, never trimmed. */
export const NameText = (maxLength: number) =>
  PlainText.pipe(
    Schema.minLength(1, { message: () => "must not be empty" }),
    Schema.filter(isTrimmed, { message: () => SPACES_RULE }),
    Schema.maxLength(maxLength, { message: () => `must be at most ${maxLength} characters` })
  )

/** Nothing to change: a patch without any of the fields it may change. */
export const atLeastOneOf = (names: ReadonlyArray<string>) =>
  new InvalidInput({ field: "patch", rule: `give at least one of ${names.join(", ")}`, mentions: names })

/** Two fields that exclude each other, refused on the second. */
export const notBoth = (first: string, second: string) =>
  new InvalidInput({ field: second, rule: `give ${first} or ${second}, not both`, mentions: [first, second] })

/** `changes.3.sku` → `changes[3].sku`: the path as a caller writes it. */
const fieldName = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (name, key) =>
      typeof key === "number" ? `${name}[${key}]` : name === "" ? String(key) : `${name}.${String(key)}`,
    ""
  ) || "input"

/** Effect's own messages end with the value given (`Expected number, actual "…"`): repeated short. */
const ACTUAL = /, actual ([\s\S]*)$/
export const ruleOf = (message: string): string =>
  message.replace(ACTUAL, (_, actual: string) => `, not ${shortenInput(actual)}`)

/** An InvalidInput for the field at `path` (`[]`: the input as a whole). */
export const invalidInputAt = (path: ReadonlyArray<PropertyKey>, rule: string) =>
  new InvalidInput({ field: fieldName(path), rule })

/** One decoding issue (`ParseResult.ArrayFormatter`'s) as the InvalidInput a caller reads. */
export const invalidInputOf = (issue: ParseResult.ArrayFormatterIssue | undefined) =>
  invalidInputAt(
    issue?.path ?? [],
    issue?._tag === "Missing"
      ? "is required"
      : issue?._tag === "Unexpected"
        ? `is an unknown property; check its spelling (${issue.message.replace(/^is unexpected, /, "")})`
        : ruleOf(issue?.message ?? "is invalid")
  )

/** Decodes caller input; the first problem becomes an InvalidInput naming the field and the rule. */
export const decodeInput = <A, I>(schema: Schema.Schema<A, I>) => {
  // Built once per schema, so a caller that keeps the decoder pays for it once, not per request.
  // Synchronous: every input schema is; an Either is an Effect already, so a valid input costs
  // no fiber step beyond the decoding itself.
  const decode = ParseResult.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
  return (input: unknown): Effect.Effect<A, InvalidInput> =>
    Either.mapLeft(decode(input), (issue) =>
      invalidInputOf(ParseResult.ArrayFormatter.formatIssueSync(issue)[0])
    )
}

/** The PostgreSQL error code (SQLSTATE) behind a SqlError, from pg or PGlite alike. */
export const pgCode = (error: SqlError): string | undefined =>
  (error.cause as { code?: string } | undefined)?.code

export const pgConstraint = (error: SqlError): string | undefined =>
  (error.cause as { constraint?: string } | undefined)?.constraint

/** Any database failure that the repository did not map to a domain error. */
export const storeFailure = (error: SqlError): StoreError =>
  new StoreError({
    reason: (error.cause as Error | undefined)?.message ?? error.message
  })

/** @effect/sql dies when a COMMIT or ROLLBACK fails (a connection cut mid-transaction): a store failure too. */
export const failOnSqlDefect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
  Effect.catchSomeDefect(effect, (defect) =>
    defect instanceof SqlError ? Option.some(Effect.fail(defect)) : Option.none()
  )

/** A concurrent transaction lost a deadlock or serialization race: running it again is safe. */
export const isRetryableConflict = (error: unknown): boolean =>
  error instanceof SqlError && (pgCode(error) === "40P01" || pgCode(error) === "40001")

/** An ILIKE pattern matching `text` anywhere, with the pattern characters in it taken literally. */
export const containsPattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
