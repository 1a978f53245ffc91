import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"

/**
 * Where background jobs (pg-boss) keep their queue: the same database as the inventory. On
 * PostgreSQL pg-boss opens its own pool; on the embedded store it must share our one connection.
 */
export class JobsDatabase extends Context.Tag("@invkit/sdk/JobsDatabase")<
  JobsDatabase,
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }
  | {
      readonly _tag: "Embedded"
      readonly executeSql: (
        text: string,
        values?: ReadonlyArray<unknown>
      ) => Effect.Effect<{ readonly rows: Array<any> }, SqlError>
      /**
       * `copy … from '/dev/blob'` with `text` as its input: PGlite's COPY from the client, which
       * the import stages its rows with, as it does over a pg connection on PostgreSQL.
       */
      readonly copyFrom: (statement: string, text: string) => Effect.Effect<void, SqlError>
    }
>() {}
