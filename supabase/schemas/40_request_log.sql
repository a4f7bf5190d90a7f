-- The request log: one row per request that identified an API key.

create table salesos.request_log (
  id bigint generated always as identity primary key,
  request_id uuid not null,
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  -- No foreign key: its lock on the hot key row cost a third of the throughput; delete_api_key clears it.
  key_id uuid,
  environment text not null check (environment in ('live', 'test')),
  action text,
  status smallint not null check (status between 100 and 599),
  ip inet,
  latency_ms integer not null check (latency_ms >= 0),
  item_counts jsonb,
  created_at timestamptz not null default now()
);
comment on table salesos.request_log is 'One row per request that identified an API key (admitted or refused by IP, scope or rate limit).';
create index request_log_key_created_idx on salesos.request_log (key_id, created_at desc, id desc);
create index request_log_tenant_created_idx on salesos.request_log (tenant_id, created_at desc);
comment on column salesos.request_log.key_id is 'The key that made the request; cleared when the key is deleted (salesos.delete_api_key). No foreign key: its lock on the hot key row cost a third of the throughput.';

alter table salesos.request_log enable row level security;
