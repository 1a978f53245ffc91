import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

/**
 * The schema, in the one SQL dialect both stores speak: PGlite runs the same PostgreSQL.
 * Migrations are append-only; never edit one that has shipped.
 */
const initial = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
create table locations (
  code text primary key,
  name text not null,
  created_at timestamptz not null default now()
);
-- Single-site users never name a location: everything lands here.
insert into locations (code, name) values ('default', 'Default location');

create table products (
  sku text primary key,
  name text not null,
  unit text not null default 'each',
  reorder_point integer not null default 0 check (reorder_point >= 0),
  reorder_quantity integer not null default 0 check (reorder_quantity >= 0),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index products_name_idx on products (lower(name));

create table stock_levels (
  sku text not null references products (sku),
  location text not null references locations (code),
  on_hand integer not null check (on_hand >= 0),
  reserved integer not null default 0 check (reserved >= 0),
  -- The change the last write made, so one statement can both set a level and report its delta.
  last_delta integer not null default 0,
  version bigint not null default 1,
  updated_at timestamptz not null default now(),
  primary key (sku, location)
);

create table stock_movements (
  id bigint generated always as identity primary key,
  sku text not null references products (sku),
  location text not null references locations (code),
  delta integer not null,
  quantity_after integer not null check (quantity_after >= 0),
  reason text not null check (reason in ('receipt', 'sale', 'adjustment', 'count', 'transfer', 'return', 'damage', 'restock')),
  reference text,
  actor text,
  idempotency_key text,
  created_at timestamptz not null default now()
);
create index stock_movements_sku_idx on stock_movements (sku, id desc);

-- The ledger is append-only: history is corrected by a new movement, never by editing one.
create function stock_movements_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'stock_movements is append-only' using errcode = '55000';
end $$;
create trigger stock_movements_append_only before update or delete on stock_movements
  for each statement execute function stock_movements_append_only();

create table idempotency_keys (
  key text primary key,
  request_hash text not null,
  response jsonb,
  created_at timestamptz not null default now()
);

create table outbox (
  id bigint generated always as identity primary key,
  event_id uuid not null default gen_random_uuid() unique,
  type text not null,
  subject text not null,
  data jsonb not null,
  created_at timestamptz not null default now(),
  sent_at timestamptz
);
create index outbox_unsent_idx on outbox (id) where sent_at is null;
`).unprepared
)

const suppliers = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
create table suppliers (
  id text primary key,
  name text not null,
  -- How the catalog is fetched and read: HTTP JSON or CSV, with a field mapping (see Supplier.ts).
  connector jsonb not null,
  -- Cron expression of scheduled syncs, or null for manual only.
  schedule text,
  create_missing_products boolean not null default false,
  lead_time_days integer not null default 0 check (lead_time_days >= 0),
  active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

alter table products
  add column max_level integer check (max_level >= 0),
  add column preferred_supplier text references suppliers (id) on delete set null;

create table supplier_items (
  supplier_id text not null references suppliers (id) on delete cascade,
  supplier_sku text not null,
  sku text references products (sku),
  name text,
  unit_cost numeric(14, 4),
  lead_time_days integer check (lead_time_days >= 0),
  min_order_qty integer not null default 1 check (min_order_qty >= 1),
  pack_size integer not null default 1 check (pack_size >= 1),
  -- The supplier's own stock: informs the choice of supplier, never our on_hand.
  availability integer check (availability >= 0),
  active boolean not null default true,
  -- What the feed said last time, to tell updated items from unchanged ones.
  content_hash text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deactivated_at timestamptz,
  primary key (supplier_id, supplier_sku)
);
create index supplier_items_sku_idx on supplier_items (sku) where active;

create table sync_runs (
  id bigint generated always as identity primary key,
  supplier_id text not null references suppliers (id) on delete cascade,
  trigger text not null check (trigger in ('manual', 'scheduled')),
  status text not null check (status in ('running', 'succeeded', 'partial', 'failed')),
  attempt integer not null default 1,
  added integer not null default 0,
  updated integer not null default 0,
  unchanged integer not null default 0,
  deactivated integer not null default 0,
  rejected integer not null default 0,
  rejections jsonb not null default '[]',
  error text,
  started_at timestamptz not null default now(),
  finished_at timestamptz
);
create index sync_runs_supplier_idx on sync_runs (supplier_id, id desc);
-- One run at a time per supplier, however many workers and operators start one.
create unique index sync_runs_one_running on sync_runs (supplier_id) where status = 'running';

create table restock_orders (
  id bigint generated always as identity primary key,
  sku text not null references products (sku),
  location text not null references locations (code),
  supplier_id text references suppliers (id),
  supplier_sku text,
  quantity integer not null check (quantity > 0),
  received_quantity integer not null default 0 check (received_quantity >= 0),
  unit_cost numeric(14, 4),
  status text not null check (status in ('draft', 'submitted', 'received', 'cancelled')),
  -- Why it was opened: levels, reorder point, supplier choice and rounding, as evaluated.
  explanation jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  submitted_at timestamptz,
  closed_at timestamptz
);
-- At most one open order per product and location, whatever the number of writers.
create unique index restock_orders_one_open on restock_orders (sku, location)
  where status in ('draft', 'submitted');
create index restock_orders_supplier_idx on restock_orders (supplier_id) where status in ('draft', 'submitted');

-- Expired idempotency keys are purged by age on every open.
create index idempotency_keys_created_idx on idempotency_keys (created_at);
`).unprepared
)

const inbox = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- Events a consumer has processed: recorded in the transaction of its own work, so a redelivered
-- event changes nothing.
create table if not exists inbox (
  consumer text not null,
  event_id text not null,
  processed_at timestamptz not null default now(),
  primary key (consumer, event_id)
);
`).unprepared
)

const imports = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- Bulk imports applied, by import id (the SHA-256 of the file unless the caller names one): a
-- second run of the same import finds its row and applies nothing. Kept, like the ledger.
create table if not exists imports (
  id text primary key,
  kind text not null check (kind in ('products', 'stock', 'adjustments')),
  rows integer not null,
  applied integer not null,
  rejected integer not null,
  summary jsonb not null,
  actor text,
  created_at timestamptz not null default now()
);
`).unprepared
)

const outboxTraceContext = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- The W3C trace context of the change that wrote the event (traceparent), when tracing is on: the
-- relay puts it in the CloudEvent, so one trace follows a change through the broker.
alter table outbox add column if not exists traceparent text;
`).unprepared
)

const levelLimit = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- One limit for a level, whatever writes it: Rules.MAX_LEVEL when this shipped (a migration keeps
-- its own number). NOT VALID: a level stored above it before it existed stays readable, and can
-- be set back within it.
alter table stock_levels add constraint stock_levels_on_hand_limit
  check (on_hand <= 1000000000) not valid;
`).unprepared
)

const inboxFingerprint = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- What the processed event said (Event.fingerprint: its type and data), so an id used again for
-- another event is refused instead of skipped as a redelivery. Rows from before have none.
alter table inbox add column if not exists fingerprint text;
`).unprepared
)

const outboxNotify = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- A relay listening on the channel invkit_outbox wakes when events commit, instead of polling.
-- Once per statement, and PostgreSQL folds equal notifications of one transaction into one.
create or replace function invkit_outbox_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('invkit_outbox', 'committed');
  return null;
end
$$;
drop trigger if exists outbox_notify on outbox;
create trigger outbox_notify after insert on outbox
  for each statement execute function invkit_outbox_notify();
`).unprepared
)

const levelReferences = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- A level's product and location, checked once per statement instead of once per row. A foreign
-- key runs a trigger per row that looks the product up and locks it (FOR KEY SHARE): for a
-- million-row import that was most of the write. The lock only guards against the product or
-- location going away meanwhile, so keys are made permanent instead (products are archived, never
-- deleted; locations are never deleted; neither is renamed), and the check becomes one anti-join
-- over the statement's new levels, raising the foreign-key error (23503) as before.
alter table stock_levels
  drop constraint if exists stock_levels_sku_fkey,
  drop constraint if exists stock_levels_location_fkey;

create function stock_levels_references() returns trigger language plpgsql as $$
declare
  orphan record;
begin
  select n.sku, n.location, exists (select 1 from products p where p.sku = n.sku) as known_sku
    into orphan
  from new_levels n
  where not exists (select 1 from products p where p.sku = n.sku)
     or not exists (select 1 from locations l where l.code = n.location)
  limit 1;
  if found then
    if orphan.known_sku then
      raise exception 'location % does not exist', orphan.location
        using errcode = '23503', constraint = 'stock_levels_location_fkey';
    end if;
    raise exception 'product % does not exist', orphan.sku
      using errcode = '23503', constraint = 'stock_levels_sku_fkey';
  end if;
  return null;
end $$;
create trigger stock_levels_references after insert on stock_levels
  referencing new table as new_levels for each statement execute function stock_levels_references();

-- What makes the statement-level check sound: a key, once referenced, stays.
create function keys_are_permanent() returns trigger language plpgsql as $$
begin
  raise exception 'the keys of % are permanent: its rows are never deleted and their keys never change (archive a product instead)',
    tg_table_name
    using errcode = '55000';
end $$;
create trigger products_keys_permanent before delete or truncate or update of sku on products
  for each statement execute function keys_are_permanent();
create trigger locations_keys_permanent before delete or truncate or update of code on locations
  for each statement execute function keys_are_permanent();
create trigger stock_levels_keys_permanent before delete or truncate or update of sku, location on stock_levels
  for each statement execute function keys_are_permanent();

-- The ledger keeps no foreign keys of its own (two more per-row checks and locks): a movement is
-- only ever written in the same statement as its level (the stock write path, the importer), whose check
-- above covers the same product and location, and levels, products and locations are never
-- deleted. A test checks that every movement has its level.
alter table stock_movements
  drop constraint if exists stock_movements_sku_fkey,
  drop constraint if exists stock_movements_location_fkey;
`).unprepared
)

const reservations = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- A product that allows backorders may be sold past what reservations hold (on_hand may fall
-- below reserved, never below zero); by default a stock write may not eat into held units.
alter table products add column if not exists allow_backorders boolean not null default false;

-- Holds of units for a reference (a cart, an order). stock_levels.reserved is the sum of the
-- active holds' quantity, kept in the same transaction as every change here; an active hold past
-- expires_at no longer counts for readers and writers, and the sweeper marks it expired.
create table if not exists reservations (
  id bigint generated always as identity primary key,
  sku text not null,
  location text not null,
  -- Units held now: an active hold's share of reserved; what was held when it closed otherwise.
  quantity integer not null check (quantity >= 0),
  fulfilled integer not null default 0 check (fulfilled >= 0),
  reference text not null,
  status text not null check (status in ('active', 'fulfilled', 'released', 'expired')),
  expires_at timestamptz,
  actor text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  closed_at timestamptz,
  foreign key (sku, location) references stock_levels (sku, location),
  check (status <> 'active' or quantity > 0)
);
-- A level's active holds (newest first for releasing, due ones for reads and writes).
create index if not exists reservations_active_level_idx on reservations (sku, location, expires_at)
  where status = 'active';
-- The sweeper's work list.
create index if not exists reservations_due_idx on reservations (expires_at)
  where status = 'active' and expires_at is not null;
create index if not exists reservations_reference_idx on reservations (reference, id);
`).unprepared
)

const outboxWithoutNotify = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- 0008's trigger made every transaction that wrote events NOTIFY, and PostgreSQL serialises the
-- commits of notifying transactions (one lock from pre-commit through the WAL flush), so they
-- stopped sharing WAL flushes: the raw adjustment halved at 8 and 32 writers. The writing process
-- now tells the relay after its commit instead (internal/outbox.ts, Store.EventsCommitted).
drop trigger if exists outbox_notify on outbox;
drop function if exists invkit_outbox_notify();
`).unprepared
)

/**
 * The check of a statement's new levels, looking each product up by its key (0012); from 0013 on,
 * skipped in a transaction that says its rows were checked already.
 */
const levelReferencesCheck = (skippable: boolean) => `
create or replace function stock_levels_references() returns trigger language plpgsql as $$
declare
  orphan record;
begin${
  skippable
    ? `
  if current_setting('invkit.level_references_checked', true) = 'on' then
    return null;
  end if;`
    : ""
}
  select n.sku, n.location, (select p.sku from products p where p.sku = n.sku) is not null as known_sku
    into orphan
  from new_levels n
  where (select p.sku from products p where p.sku = n.sku) is null
     or not exists (select 1 from locations l where l.code = n.location)
  limit 1;
  if found then
    if orphan.known_sku then
      raise exception 'location % does not exist', orphan.location
        using errcode = '23503', constraint = 'stock_levels_location_fkey';
    end if;
    raise exception 'product % does not exist', orphan.sku
      using errcode = '23503', constraint = 'stock_levels_sku_fkey';
  end if;
  return null;
end $$;
`

const levelReferencesByKey = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- 0009's check, with each new level's product looked up by its key. Written as NOT EXISTS under
-- an OR, it became a hashed subplan that read and hashed the whole products table once per
-- statement: with a million products, 0.7 s for each 50,000-line chunk of an import, most of
-- its write. A scalar subquery cannot be hashed, so its cost follows the statement's new levels.
${levelReferencesCheck(false)}`).unprepared
)

const levelReferencesCheckedByImport = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- 0012's check, skipped for a statement whose transaction says its rows were checked already:
-- an import checks every staged row's product and location in one pass before it writes
-- (internal/importStore.ts), and keys are permanent (0009), so what it checked still holds. For a
-- million new levels the check looked up two million keys again: a third of the levels' write.
${levelReferencesCheck(true)}`).unprepared
)

const outboxDataLz4 = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql.unsafe(`
-- An event's data compressed with lz4 instead of pglz when it is large enough to be compressed
-- (some 2 KB): an import's \`stock.imported\` events list 1,000 levels each, some 80 KB, and pglz
-- took 0.8-1.5 s of a million-row import's write. lz4 compresses about as small, several times
-- faster, and reads back faster for the relay. A PostgreSQL built without lz4 (PGlite is) says
-- so with feature_not_supported and keeps pglz; PostgreSQL 13 has no per-column compression (the
-- statement is run as text so that 13 does not parse it).
do $$
begin
  if current_setting('server_version_num')::int >= 140000 then
    execute 'alter table outbox alter column data set compression lz4';
  end if;
exception when feature_not_supported then
  null;
end $$;
`).unprepared
)

/** By id: the migrator runs those above the highest id the database has recorded. */
const migrations = {
  "0001_initial": initial,
  "0002_suppliers": suppliers,
  "0003_inbox": inbox,
  "0004_imports": imports,
  "0005_outbox_trace_context": outboxTraceContext,
  "0006_level_limit": levelLimit,
  "0007_inbox_fingerprint": inboxFingerprint,
  "0008_outbox_notify": outboxNotify,
  "0009_level_references": levelReferences,
  "0010_reservations": reservations,
  "0011_outbox_without_notify": outboxWithoutNotify,
  "0012_level_references_by_key": levelReferencesByKey,
  "0013_level_references_checked_by_import": levelReferencesCheckedByImport,
  "0014_outbox_data_lz4": outboxDataLz4
}

/** The migrator's own table (its default name): one row per migration applied. */
const MIGRATIONS_TABLE = "effect_sql_migrations"

/** The highest id above, parsed as the migrator parses it (the digits before the first `_`). */
const LATEST_MIGRATION = Math.max(...Object.keys(migrations).map((name) => Number.parseInt(name, 10)))

const migrate = Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: MIGRATIONS_TABLE })

/**
 * Whether the database has every migration: one statement. The migrator checks with five (its
 * table, then a transaction that locks the table and reads it twice) on every open; this runs
 * first, and the migrator only when something is pending. A database without the table (a fresh
 * one) fails the statement, which answers "pending" too.
 */
const upToDate = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ latest: number | null }>`select max(migration_id) as latest from ${sql(MIGRATIONS_TABLE)}`.pipe(
    Effect.map(([row]) => (row?.latest ?? 0) >= LATEST_MIGRATION),
    Effect.orElseSucceed(() => false)
  )
)

/** Two processes opening a fresh database at once race to create the migrations table: retry. */
export const runMigrations = Effect.flatMap(upToDate, (done) =>
  done
    ? Effect.void
    : migrate.pipe(Effect.retry({ times: 3, schedule: Schedule.exponential("50 millis") }), Effect.asVoid)
)
