import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { InvalidInput, StoreError } from "../InventoryError.js"
import {
  ACTOR_RULE,
  CODE_MAX_LENGTH,
  CODE_PATTERN,
  CODE_RULE,
  isActor,
  isPlainText,
  isTrimmed,
  MOMENT_RULE,
  parseMoment,
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

/** Who made a change, as the ledger records it (`isActor`): a blank one would name no one. */
export const Actor = TextInput.pipe(Schema.filter(isActor, { message: () => ACTOR_RULE }))

/**
 * Text read by a rule's own parser (`Rules.parse…`, which answers undefined for text not written
 * by the rule), refused with the rule; written back by `print`.
 */
export const textParsedBy = <A>(
  to: Schema.Schema<A>,
  parse: (text: string) => A | undefined,
  rule: string,
  print: (value: A) => string
) =>
  Schema.transformOrFail(Schema.String, to, {
    strict: true,
    decode: (text, _, ast) => {
      const value = parse(text)
      return value === undefined
        ? ParseResult.fail(new ParseResult.Type(ast, text, rule))
        : ParseResult.succeed(value)
    },
    encode: (value) => ParseResult.succeed(print(value))
  })

/** A moment: a Date, or text by the rule (`MOMENT_RULE`: a date and time with its offset). */
export const Moment = Schema.Union(
  Schema.DateFromSelf,
  textParsedBy(Schema.DateFromSelf, parseMoment, MOMENT_RULE, (moment) => moment.toISOString())
).annotations({ message: () => ({ message: MOMENT_RULE, override: true }) })

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

const INPUT_OPTIONS: AST.ParseOptions = { errors: "first", onExcessProperty: "ignore" }

/**
 * The decoder of a struct whose only transformations are its fields' defaults
 * (`Schema.optionalWith(…, { default })`), or undefined for any other schema. Effect decodes such
 * a struct's encoded side, fills in the defaults, then validates every field again against its
 * type side, which for a field without a transformation of its own is the very schema its value
 * was just checked against (`AST.typeAST` answers a field's own AST then). This decoder skips that
 * second pass and checks only the values the defaults filled in: about two thirds of the decoding
 * of a stock write (docs/benchmarks-log.md, section 1). Fills them in as Effect does (ParseResult's
 * TypeLiteralTransformation); test/validation.test.ts holds both decoders to the same answers.
 */
export const decodeWithDefaults = (ast: AST.AST) => {
  if (ast._tag !== "Transformation" || ast.transformation._tag !== "TypeLiteralTransformation")
    return undefined
  const { from, to } = ast
  if (from._tag !== "TypeLiteral" || to._tag !== "TypeLiteral") return undefined
  if (from.indexSignatures.length > 0 || to.indexSignatures.length > 0) return undefined
  const defaults = ast.transformation.propertySignatureTransformations
  const filled = new Set(defaults.map(({ to }) => to))
  if (defaults.some(({ from, to }) => from !== to)) return undefined
  const fromTypes = new Map(from.propertySignatures.map((property) => [property.name, property.type]))
  if (fromTypes.size !== to.propertySignatures.length) return undefined
  const checkFilled = new Map<
    PropertyKey,
    (value: unknown) => Either.Either<unknown, ParseResult.ParseIssue>
  >()
  for (const property of to.propertySignatures) {
    const fromType = fromTypes.get(property.name)
    if (fromType === undefined) return undefined
    if (filled.has(property.name)) {
      checkFilled.set(property.name, ParseResult.validateEither(Schema.make(property.type)))
    } else if (AST.typeAST(fromType) !== property.type) {
      return undefined
    }
  }
  const decodeFrom = ParseResult.decodeUnknownEither(Schema.make(from), INPUT_OPTIONS)
  return (input: unknown): Either.Either<unknown, ParseResult.ParseIssue> =>
    Either.flatMap(decodeFrom(input), (decoded) => {
      // A fresh object of the decoder's own, so it may be filled in place.
      const output = decoded as Record<PropertyKey, unknown>
      const filledIn: Array<PropertyKey> = []
      for (const { from, decode } of defaults) {
        const present = Object.hasOwn(output, from)
        const given = present ? output[from] : undefined
        const value = decode(present ? Option.some(given) : Option.none())
        delete output[from]
        if (Option.isSome(value)) {
          output[from] = value.value
          // A value given was checked against the field's schema already; a default was not.
          if (given === undefined) filledIn.push(from)
        }
      }
      for (const name of filledIn) {
        const checked = checkFilled.get(name)!(output[name])
        if (Either.isLeft(checked)) return Either.left(new ParseResult.Pointer(name, output, checked.left))
      }
      return Either.right(output)
    })
}

/** Decodes caller input; the first problem becomes an InvalidInput naming the field and the rule. */
export const decodeInput = <A, I>(schema: Schema.Schema<A, I>): InputDecoder<A> => {
  // Built once per schema and kept: making a decoder costs more than most calls it checks. A schema
  // made on every call would miss, so every input schema is a module's constant.
  const known = decoders.get(schema)
  if (known !== undefined) return known as InputDecoder<A>
  // Synchronous: every input schema is; an Either is an Effect already, so a valid input costs
  // no fiber step beyond the decoding itself.
  const decode = (decodeWithDefaults(schema.ast) ??
    ParseResult.decodeUnknownEither(schema, INPUT_OPTIONS)) as (
    input: unknown
  ) => Either.Either<A, ParseResult.ParseIssue>
  const decoder: InputDecoder<A> = (input) =>
    Either.mapLeft(decode(input), (issue) =>
      invalidInputOf(ParseResult.ArrayFormatter.formatIssueSync(issue)[0])
    )
  decoders.set(schema, decoder)
  return decoder
}

type InputDecoder<A> = (input: unknown) => Effect.Effect<A, InvalidInput>

/** Each input schema's decoder, made at its first use (`decodeInput`). */
const decoders = new WeakMap<Schema.Schema.Any, InputDecoder<unknown>>()

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
