/**
 * Locations: the warehouses or bins stock is kept in. A location named `default` always exists,
 * so single-site users never need to name one.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { type InvalidInput, LocationAlreadyExists, type StoreError } from "./InventoryError.js"
import { decodeInput, PlainText, pgCode, storeFailure, TextInput } from "./internal/validation.js"
import { CODE_MAX_LENGTH, CODE_PATTERN, CODE_RULE } from "./Rules.js"

export const DEFAULT_LOCATION = "default"

export const LocationCode = TextInput.pipe(
  Schema.minLength(1, { message: () => "must not be empty" }),
  Schema.maxLength(CODE_MAX_LENGTH, { message: () => `must be at most ${CODE_MAX_LENGTH} characters` }),
  Schema.pattern(CODE_PATTERN, { message: () => CODE_RULE })
).annotations({ identifier: "LocationCode" })

export const Location = Schema.Struct({
  code: LocationCode,
  name: Schema.String,
  createdAt: Schema.Date
}).annotations({ identifier: "Location" })
export type Location = typeof Location.Type

export const NewLocation = Schema.Struct({
  code: LocationCode,
  name: Schema.optional(
    Schema.compose(PlainText, Schema.Trim).pipe(
      Schema.minLength(1, { message: () => "must not be empty" }),
      Schema.maxLength(200, { message: () => "must be at most 200 characters" })
    )
  )
})
export type NewLocation = typeof NewLocation.Encoded

export class Locations extends Effect.Service<Locations>()("@invkit/sdk/Locations", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const add = (
      input: NewLocation
    ): Effect.Effect<Location, InvalidInput | LocationAlreadyExists | StoreError> =>
      Effect.flatMap(decodeInput(NewLocation)(input), (location) =>
        sql<Location>`
          insert into locations (code, name) values (${location.code}, ${location.name ?? location.code})
          returning code, name, created_at`.pipe(
          Effect.map((rows) => rows[0]!),
          Effect.catchTag("SqlError", (error) =>
            Effect.fail(
              pgCode(error) === "23505"
                ? new LocationAlreadyExists({ location: location.code })
                : storeFailure(error)
            )
          )
        )
      )

    const list = (): Effect.Effect<ReadonlyArray<Location>, StoreError> =>
      sql<Location>`select code, name, created_at from locations order by code`.pipe(
        Effect.mapError(storeFailure)
      )

    return { add, list } as const
  })
}) {}
