// The raw baseline of the stock benchmarks: the statements the SDK sends for `stock.adjust`,
// copied from packages/sdk/src/internal/stockWrite.ts (levelWrite + applyChange) and internal/idempotency.ts.
// bench/adjust.mjs checks in its own run that the SDK still sends exactly these texts, so the
// baseline cannot drift silently.

const RETURNING = "returning sku, location, on_hand, reserved, last_delta, version"

const levelIncrease = `
          insert into stock_levels as s (sku, location, on_hand, last_delta)
          values ($1, $2, $3, $4)
          on conflict (sku, location) do update
            set on_hand = s.on_hand + excluded.on_hand, last_delta = excluded.on_hand,
                version = s.version + 1, updated_at = now()
          ${RETURNING}`

const levelDecrease = `
          update stock_levels s
            set on_hand = s.on_hand + $1, last_delta = $2,
                version = s.version + 1, updated_at = now()
          where s.sku = $3 and s.location = $4
            and s.on_hand - s.reserved + $5 >= 0
          ${RETURNING}`

const applyChange = (level, n) => `
        with level as (${level}),
        movement as (
          insert into stock_movements (sku, location, delta, quantity_after, reason, reference, actor, idempotency_key)
          select sku, location, last_delta, on_hand, $${n}, $${n + 1},
                 $${n + 2}, $${n + 3}
          from level
          returning id, sku, location, delta, quantity_after, reason, reference, actor, created_at
        ),
        point as (select reorder_point from products where sku = $${n + 4}),
        event as (
          insert into outbox (type, subject, data, traceparent)
          select 'stock.updated', m.sku, jsonb_build_object(
            'sku', m.sku, 'location', m.location, 'delta', m.delta, 'onHand', m.quantity_after,
            'version', l.version, 'reason', m.reason, 'reference', m.reference, 'actor', m.actor,
            'movementId', m.id, 'at', m.created_at,
            'available', m.quantity_after - l.reserved, 'reorderPoint', p.reorder_point), $${n + 5}
          from movement m cross join level l cross join point p
          returning event_id
        )
        select m.id as movement_id, m.sku, m.location, m.delta, m.quantity_after as on_hand, l.version,
               m.reason, m.reference, m.actor, m.created_at as at,
               m.quantity_after - l.reserved <= p.reorder_point as at_reorder_point
        from movement m cross join level l cross join point p`

export const INCREASE = applyChange(levelIncrease, 5)
export const DECREASE = applyChange(levelDecrease, 6)
export const KEY_EXPIRE = `
      delete from idempotency_keys where key in (
        select key from idempotency_keys
        where created_at < now() - interval '24 hours'
        order by (key = $1) desc
        limit 100)`
export const KEY_CLAIM = `
      insert into idempotency_keys (key, request_hash) values ($1, $2)
      on conflict (key) do nothing
      returning key`
export const KEY_SAVEPOINT = "SAVEPOINT effect_sql_1"
export const KEY_ANSWER = "update idempotency_keys set response = $1::jsonb where key = $2"
