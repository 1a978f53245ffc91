/**
 * `decodeInput` (internal/validation.ts) decodes a struct whose only transformations are its
 * fields' defaults without Effect's second pass over the fields' type side. Held here to Effect's
 * own decoder: for every such input schema the SDK exports, the same answer, or the same
 * InvalidInput, for generated valid input and for input with fields broken, missing or unknown.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { decodeInput, decodeWithDefaults, invalidInputOf } from "../src/internal/validation.js"
import * as Product from "../src/Product.js"
import * as Reservation from "../src/Reservation.js"
import * as Restock from "../src/Restock.js"
import * as Stock from "../src/Stock.js"
import * as Supplier from "../src/Supplier.js"
import * as SupplierSync from "../src/SupplierSync.js"

/** The schemas the SDK exports. */
const candidates = Object.entries({ Product, Reservation, Restock, Stock, Supplier, SupplierSync }).flatMap(
  ([module, exports]) =>
    Object.entries(exports)
      .filter(([, value]) => Schema.isSchema(value))
      .map(([name, schema]) => [`${module}.${name}`, schema as Schema.Schema<unknown, unknown>] as const)
)

/** Whether `decodeInput` takes the lean way for a schema. */
const takesDefaults = (schema: Schema.Schema<unknown, unknown>) =>
  decodeWithDefaults(schema.ast) !== undefined

const effectsOwn = (schema: Schema.Schema<unknown, unknown>) => {
  const decode = ParseResult.decodeUnknownEither(schema, { errors: "first", onExcessProperty: "ignore" })
  return (input: unknown) =>
    Either.mapLeft(decode(input), (issue) =>
      invalidInputOf(ParseResult.ArrayFormatter.formatIssueSync(issue)[0])
    )
}

const answerOf = (effect: Effect.Effect<unknown, unknown>) => {
  const exit = Effect.runSyncExit(effect)
  return Exit.isSuccess(exit)
    ? { ok: exit.value }
    : { failed: Exit.isFailure(exit) ? JSON.stringify(exit.cause) : "" }
}

/** Valid encoded input, then the same with one field replaced by anything, removed, or added. */
const inputs = (schema: Schema.Schema<unknown, unknown>) =>
  Arbitrary.make(Schema.encodedSchema(schema)).chain((valid) => {
    const record = valid as Record<string, unknown>
    // A valid input may have no field at all (every one optional).
    const keys = [...Object.keys(record), "extra"]
    return FastCheck.oneof(
      FastCheck.constant(valid),
      FastCheck.record({
        key: FastCheck.constantFrom(...keys, "locaton"),
        value: FastCheck.oneof(FastCheck.anything(), FastCheck.constant(undefined), FastCheck.string())
      }).map(({ key, value }) => ({ ...record, [key]: value })),
      FastCheck.constantFrom(...keys).map((key) => {
        const { [key]: _, ...rest } = record
        return rest
      }),
      FastCheck.anything()
    )
  })

describe("decodeInput", () => {
  it("takes the lean way for the stock writes' inputs", () => {
    const taken = candidates.filter(([, schema]) => takesDefaults(schema)).map(([name]) => name)
    expect(taken).toEqual(expect.arrayContaining(["Stock.AdjustStock", "Stock.SetStock"]))
  })

  for (const [name, schema] of candidates.filter(([, schema]) => takesDefaults(schema))) {
    it(`answers as Effect's own decoder for ${name}`, () => {
      const lean = decodeInput(schema)
      const own = effectsOwn(schema)
      FastCheck.assert(
        FastCheck.property(inputs(schema), (input) => {
          const copy = structuredCloneOrSelf(input)
          expect(answerOf(lean(input))).toEqual(answerOf(own(input)))
          // The caller's input is never written to.
          expect(input).toEqual(copy)
        }),
        { numRuns: 300 }
      )
    })
  }

  it("checks a default it fills in, as Effect's second pass would", () => {
    const Odd: Schema.Schema<unknown, unknown> = Schema.Struct({
      code: Schema.optionalWith(Schema.String.pipe(Schema.minLength(3)), { default: () => "x" }),
      n: Schema.Number
    }) as Schema.Schema<any, any>
    expect(takesDefaults(Odd)).toBe(true)
    const lean = answerOf(decodeInput(Odd)({ n: 1 }))
    expect(lean).toEqual(answerOf(effectsOwn(Odd)({ n: 1 })))
    expect(lean.failed).toContain('"field":"code"')
    expect(answerOf(decodeInput(Odd)({ n: 1, code: "abc" }))).toEqual({ ok: { n: 1, code: "abc" } })
  })

  it("fills in a default for a field given as undefined, and refuses one of the wrong type", () => {
    const decode = decodeInput(Stock.AdjustStock)
    expect(answerOf(decode({ sku: "A-1", delta: 1, location: undefined }))).toEqual({
      ok: { sku: "A-1", delta: 1, location: "default", reason: "adjustment" }
    })
    const refused = answerOf(decode({ sku: "A-1", delta: 1, location: 7 }))
    expect(refused.failed).toContain('"field":"location"')
  })
})

const structuredCloneOrSelf = (value: unknown) => {
  try {
    return structuredClone(value)
  } catch {
    return value
  }
}
