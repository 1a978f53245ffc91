/**
 * The reservation statements. `stock_levels.reserved` is the sum of the level's active holds and
 * changes only together with them, in one statement: a hold raises it where it fits
 * (`on_hand - reserved >= quantity`, decided by the database), and closing holds (released,
 * expired) lowers it, writing one outbox event per hold. A hold past its expiry no longer counts
 * for anyone: reads subtract it (`heldAt`), and a write it would be in the way of expires it first
 * (`expireDue`), in the write's own transaction, before the sweeper gets to it.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import { insertEvents } from "./outbox.js"

/** The reservation's own columns, as `Reservation` reads them (expiry computed at read time). */
export const reservationColumns = (sql: SqlClient.SqlClient, alias: string) => {
  const r = sql.unsafe(alias)
  return sql`${r}.id, ${r}.sku, ${r}.location, ${r}.quantity, ${r}.fulfilled, ${r}.reference,
    case when ${r}.status = 'active' and ${r}.expires_at <= now() then 'expired' else ${r}.status end as status,
    ${r}.expires_at, ${r}.actor, ${r}.created_at, ${r}.updated_at,
    case when ${r}.status = 'active' and ${r}.expires_at <= now() then ${r}.expires_at else ${r}.closed_at end as closed_at`
}

/**
 * Units of level `alias` (a `stock_levels` row) held by active holds that have not expired: the
 * materialised `reserved` less the holds past their expiry that the sweeper has not closed yet.
 */
export const heldAt = (sql: SqlClient.SqlClient, alias: string) => {
  const l = sql.unsafe(alias)
  return sql`(${l}.reserved - coalesce((
    select sum(d.quantity)::int from reservations d
    where d.sku = ${l}.sku and d.location = ${l}.location and d.status = 'active' and d.expires_at <= now()), 0))`
}

/**
 * A level locked for the rest of the transaction, then read: on hand, reserved, what is held
 * (`heldAt`) and whether its product allows backorders; none when there is no level. Locked first,
 * read after: one statement that waited for the lock while another write expired holds of the
 * level would read the level's row as that write left it but the holds as they were before (its
 * snapshot predates that commit), and count those holds twice.
 */
export const lockedLevel = (sql: SqlClient.SqlClient, sku: string, location: string) =>
  Effect.zipRight(
    sql`select 1 from stock_levels where sku = ${sku} and location = ${location} for update`,
    Effect.map(
      sql<{ onHand: number; reserved: number; held: number; backorders: boolean }>`
        select l.on_hand, l.reserved, ${heldAt(sql, "l")} as held,
               coalesce((select allow_backorders from products where sku = l.sku), false) as backorders
        from stock_levels l
        where l.sku = ${sku} and l.location = ${location}`,
      (rows) => rows[0]
    )
  )

/** The `data` of a reservation event for hold `r` and its level `l` after the change. */
const eventData = (sql: SqlClient.SqlClient, extra: Statement.Fragment = sql``) => sql`jsonb_build_object(
  'reservationId', r.id, 'sku', r.sku, 'location', r.location, 'quantity', r.quantity,
  'fulfilled', r.fulfilled, 'reference', r.reference, 'status', r.status, 'expiresAt', r.expires_at,
  'reserved', l.reserved, 'onHand', l.on_hand, 'version', l.version, 'actor', r.actor,
  'at', r.updated_at${extra})`

/** A placed hold, as `Reservation` reads it, and whether its level is now at its reorder point. */
export interface HoldRow {
  readonly id: number
  readonly sku: string
  readonly location: string
  readonly quantity: number
  readonly fulfilled: number
  readonly reference: string
  readonly status: "active"
  readonly expiresAt: Date | null
  readonly actor: string | null
  readonly createdAt: Date
  readonly updatedAt: Date
  readonly closedAt: Date | null
  readonly atReorderPoint: boolean
}

/**
 * Places one hold, if it fits: the level's reserved rises and the hold and its `stock.reserved`
 * event are written, all in one statement; no row when the level has not `quantity` available
 * (counting every active hold, expired or not: the caller expires due ones and tries again).
 */
export const placeHold = (
  sql: SqlClient.SqlClient,
  hold: {
    readonly sku: string
    readonly location: string
    readonly quantity: number
    readonly reference: string
    readonly expiresAt: Statement.Fragment
    readonly actor: string | null
  },
  traceparent: string | null
) =>
  sql<HoldRow>`
    with l as (
      update stock_levels s
        set reserved = s.reserved + ${hold.quantity}, version = s.version + 1, updated_at = now()
      where s.sku = ${hold.sku} and s.location = ${hold.location} and s.on_hand - s.reserved >= ${hold.quantity}
      returning s.sku, s.location, s.on_hand, s.reserved, s.version
    ),
    r as (
      insert into reservations (sku, location, quantity, reference, status, expires_at, actor)
      select sku, location, ${hold.quantity}, ${hold.reference}, 'active', ${hold.expiresAt}, ${hold.actor}
      from l
      returning *
    ),
    event as (
      ${insertEvents(sql, sql`select 'stock.reserved' as type, r.sku as subject, ${eventData(sql)} as data from r cross join l`, traceparent)}
    )
    select r.id, r.sku, r.location, r.quantity, r.fulfilled, r.reference, r.status, r.expires_at, r.actor,
           r.created_at, r.updated_at, r.closed_at,
           l.on_hand - l.reserved <= (select reorder_point from products where sku = r.sku) as at_reorder_point
    from r cross join l`

/**
 * Closes the holds `chosen` selects (a query of reservation ids, locking them) that are still
 * active: status `released` or `expired`, their levels' reserved lowered, one
 * `stock.reservation.released` event each with the cause. Answers the closed holds' ids, or
 * `answer`'s columns of each closed hold `r`.
 */
const closeHolds = <A extends object = { readonly id: number }>(
  sql: SqlClient.SqlClient,
  chosen: Statement.Fragment,
  cause: "released" | "expired",
  traceparent: string | null,
  answer: Statement.Fragment = sql`r.id`
) =>
  sql<A>`
    with chosen as (${chosen}),
    r as (
      update reservations r set status = ${cause}, updated_at = now(), closed_at = now()
      from chosen where r.id = chosen.id and r.status = 'active'
      returning r.*
    ),
    l as (
      update stock_levels s
        set reserved = s.reserved - c.quantity, version = s.version + 1, updated_at = now()
      from (select sku, location, sum(quantity)::int as quantity from r group by sku, location) c
      where s.sku = c.sku and s.location = c.location
      returning s.sku, s.location, s.on_hand, s.reserved, s.version
    ),
    event as (
      ${insertEvents(
        sql,
        sql`select 'stock.reservation.released' as type, r.sku as subject,
                   ${eventData(sql, sql`, 'cause', ${cause}::text`)} as data
            from r join l on l.sku = r.sku and l.location = r.location`,
        traceparent
      )}
    )
    select ${answer} from r order by r.id`

/** Releases one hold (a caller's release), if it is still active. */
export const releaseHold = (sql: SqlClient.SqlClient, id: number, traceparent: string | null) =>
  closeHolds(sql, sql`select id from reservations where id = ${id} for update`, "released", traceparent)

/**
 * Releases one hold if it is active and its expiry has not passed, in one statement, answering it
 * as `Reservation` reads it; no row otherwise (it changed nothing: a hold not found, closed, or due
 * to expire, which the caller tells apart in a transaction).
 */
export const releaseActiveHold = <A extends object>(
  sql: SqlClient.SqlClient,
  id: number,
  traceparent: string | null
) =>
  closeHolds<A>(
    sql,
    sql`select id from reservations
        where id = ${id} and status = 'active' and not coalesce(expires_at <= now(), false)
        for update`,
    "released",
    traceparent,
    reservationColumns(sql, "r")
  )

/** Expires one hold whose expiry has passed, if it is still active. */
export const expireHold = (sql: SqlClient.SqlClient, id: number, traceparent: string | null) =>
  closeHolds(
    sql,
    sql`select id from reservations where id = ${id} and expires_at <= now() for update`,
    "expired",
    traceparent
  )

/** Expires the holds of one level whose expiry has passed: before a write they would be in the way of. */
export const expireDue = (
  sql: SqlClient.SqlClient,
  sku: string,
  location: string,
  traceparent: string | null
) =>
  closeHolds(
    sql,
    sql`select id from reservations
        where sku = ${sku} and location = ${location} and status = 'active' and expires_at <= now()
        order by id for update`,
    "expired",
    traceparent
  )

/**
 * The sweeper's batch: up to `limit` holds past their expiry, oldest expiry first. Rows another
 * sweeper (or a write) has locked are skipped, not waited for, so any number of sweepers close each
 * hold exactly once.
 */
export const expireBatch = (sql: SqlClient.SqlClient, limit: number) =>
  closeHolds(
    sql,
    sql`select id from reservations
        where status = 'active' and expires_at <= now()
        order by expires_at, id limit ${limit} for update skip locked`,
    "expired",
    null
  )

/**
 * Releases a level's newest holds until what stays held fits within `onHandAfter` (an expression
 * over the level `l`: its on hand after the write that asks for room). The level is locked first,
 * so no hold lands in between; holds past their expiry are expired first, as they count for nothing.
 */
export const releaseNewest = (
  sql: SqlClient.SqlClient,
  sku: string,
  location: string,
  onHandAfter: Statement.Fragment,
  traceparent: string | null
) =>
  Effect.gen(function* () {
    yield* sql`select 1 from stock_levels where sku = ${sku} and location = ${location} for update`
    yield* expireDue(sql, sku, location, traceparent)
    return yield* closeHolds(
      sql,
      sql`select h.id from (
            select id, sum(quantity) over (order by id desc) - quantity as newer
            from reservations where sku = ${sku} and location = ${location} and status = 'active'
          ) h, stock_levels l
          where l.sku = ${sku} and l.location = ${location} and h.newer < l.reserved - greatest(${onHandAfter}, 0)`,
      "released",
      traceparent
    )
  })
