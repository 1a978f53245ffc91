/**
 * The outbox rows a writer adds in its own transaction, so an event is published if and only if
 * its change commits. Every writer goes through here, so every event carries the trace context of
 * the change that made it.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
// Types only: Event.ts imports the catalog's schemas, and the catalog writes through this module.
import type { EventType } from "../Event.js"
import { currentTraceparent } from "./traceContext.js"

/** One event, with the current span's trace context. */
export const writeEvent = (sql: SqlClient.SqlClient, type: EventType, subject: string, data: unknown) =>
  Effect.flatMap(
    currentTraceparent,
    (traceparent) =>
      sql`insert into outbox (type, subject, data, traceparent)
          values (${type}, ${subject}, ${JSON.stringify(data)}::jsonb, ${traceparent})`
  )

/**
 * The events a statement's rows make, as a data-modifying part of that statement (a CTE):
 * `events` selects `type`, `subject` and `data` (jsonb), one row per event. `traceparent` is
 * passed in: a grouped write reads it once for all its statements. Returns a row per event, for a
 * statement that counts them.
 */
export const insertEvents = (
  sql: SqlClient.SqlClient,
  events: Statement.Fragment,
  traceparent: string | null
) =>
  sql`insert into outbox (type, subject, data, traceparent)
      select e.type, e.subject, e.data, ${traceparent} from (${events}) e
      returning 1`

/**
 * Several events of one type, in one statement and in the given order, with the current span's
 * trace context: a supplier sync may add thousands of products at once.
 */
export const writeEvents = (
  sql: SqlClient.SqlClient,
  type: EventType,
  events: ReadonlyArray<{ readonly subject: string; readonly data: unknown }>
) =>
  Effect.flatMap(currentTraceparent, (traceparent) =>
    insertEvents(
      sql,
      sql`select ${type}::text as type, given.value->>'subject' as subject, given.value->'data' as data
          from jsonb_array_elements(${JSON.stringify(events)}::jsonb) with ordinality as given
          order by given.ordinality`,
      traceparent
    )
  )
