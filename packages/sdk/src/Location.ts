/**
 * Locations: the warehouses or bins stock is kept in. A location named `default` always exists,
 * so single-site users never need to name one.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { type InvalidInput, LocationAlreadyExists, type StoreError } from "./InventoryError.js"
import { Code, decodeInput, NameText, pgCode, storeFailure } from "./internal/validation.js"
import { NAME_MAX_LENGTH } from "./Rules.js"

export const DEFAULT_LOCATION = "default"

export const LocationCode = Code.annotations({ identifier: "LocationCode" })

export const Location = Schema.Struct({
  code: LocationCode,
  name: Schema.String,
  createdAt: Schema.Date
}).annotations({ identifier: "Location" })
export type Location = typeof Location.Type

export const NewLocation = Schema.Struct({
  code: LocationCode,
  name: Schema.optional(NameText(NAME_MAX_LENGTH))
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
