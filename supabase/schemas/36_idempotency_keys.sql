-- Idempotency-Key (IETF httpapi draft, as Stripe does it): the answer to the first request of an API
-- key with a given Idempotency-Key, kept 24 hours. Written by the sync function that applies the
-- batch, in its own transaction (52_sync_functions.sql); expired rows are deleted by
-- maintain_request_log and ignored before then.

create table salesos.idempotency_keys (
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  -- No foreign key, as in request_log: the hot key row is not locked by every write.
  key_id uuid not null,
  idempotency_key text not null check (pg_catalog.length(idempotency_key) between 1 and 255),
  action text not null,
  -- SHA-256 of the raw request body: a retry must send the same bytes.
  request_hash bytea not null check (pg_catalog.octet_length(request_hash) = 32),
  -- The answer's `data`, as it was sent (json, not jsonb: an item error may echo a NUL, escaped).
  response json not null,
  created_at timestamptz not null default now(),
  primary key (tenant_id, key_id, idempotency_key)
);
comment on table salesos.idempotency_keys is
  'The first answer to each (API key, Idempotency-Key) of default-integration, replayed to a retry with the same body for 24 hours; deleted after that by maintain_request_log.';
create index idempotency_keys_created_idx on salesos.idempotency_keys (created_at);

alter table salesos.idempotency_keys enable row level security;
