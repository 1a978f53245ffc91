/**
 * The PostgreSQL client of a store on PostgreSQL: @effect/sql-pg over `pg`. Store.ts imports this
 * module when it opens such a store, so an embedded open loads neither (`pg` and its parsers are
 * a good part of the SDK's start-up).
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import pg from "pg"

export { PgClient }

// pg returns int8 (counts, sums, ids) as strings; every int8 here is far below 2^53.
const int8AsNumber: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format as any)) as any
}

/** A client with the store's conversions (int8 as numbers). */
export const layer = (config: Omit<PgClient.PgClientConfig, "types">) =>
  PgClient.layer({ ...config, types: int8AsNumber })
