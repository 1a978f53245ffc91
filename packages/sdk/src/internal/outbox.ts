/**
 * The outbox row a writer adds in its own transaction, so the event is published if and only if
 * the change commits.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
// Types only: Event.ts imports the catalog's schemas, and the catalog writes through this module.
import type { EventType } from "../Event.js"

export const writeEvent = (sql: SqlClient.SqlClient, type: EventType, subject: string, data: unknown) =>
  sql`insert into outbox (type, subject, data) values (${type}, ${subject}, ${JSON.stringify(data)}::jsonb)`
