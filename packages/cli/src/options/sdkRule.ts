/**
 * A value's text checked by the SDK's own schema, with the SDK's own words when refused. Loads
 * the SDK and Effect: prompted.ts imports it only for text its dependency-free rules do not
 * already accept.
 */
import { InvalidInput } from "@invkit/sdk"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * Text checked by the SDK's own rule before anything is opened, so a prompt can ask again; the
 * SDK checks it once more where it is used.
 */
export const bySdkRule =
  <A, I>(schema: Schema.Schema<A, I>, field: string) =>
  (text: string): string =>
    Either.match(Schema.decodeUnknownEither(schema)(text), {
      onLeft: (error) => {
        throw new InvalidInput({
          field,
          rule: ParseResult.ArrayFormatter.formatErrorSync(error)[0]?.message ?? "is invalid"
        })
      },
      onRight: () => text
    })
