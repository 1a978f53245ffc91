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

const migrate = Migrator.make({})({
  loader: Migrator.fromRecord({ "0001_initial": initial })
})

/** Two processes opening a fresh database at once race to create the migrations table: retry. */
export const runMigrations = migrate.pipe(
  Effect.retry({ times: 3, schedule: Schedule.exponential("50 millis") }),
  Effect.asVoid
)
