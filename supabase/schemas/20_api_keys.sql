-- API keys, with each key's hourly rate-limit window on its own row, and the audit log of what was
-- done to them.

create table salesos.api_keys (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  name text not null check (char_length(name) between 1 and 100),
  key_prefix text not null unique check (key_prefix ~ '^sk_(live|test)_[a-z0-9]{8}$'),
  key_hash text not null check (key_hash ~ '^\$2[aby]\$'),
  environment text not null check (environment in ('live', 'test')),
  scopes text[] not null default '{}'
    check (scopes <@ array['default:sync', 'leads:read', 'leads:write']::text[]),
  rate_limit_per_hour integer not null default 1000 check (rate_limit_per_hour between 1 and 100000),
  expires_at timestamptz,
  ip_allowlist cidr[] check (cardinality(ip_allowlist) <= 100),
  revoked_at timestamptz,
  created_at timestamptz not null default now(),
  created_by uuid,
  last_used_at timestamptz,
  last_used_ip inet,
  request_count bigint not null default 0,
  -- The fixed one-hour rate-limit window, counted by salesos.admit_request in the key's own row.
  window_started_at timestamptz,
  window_request_count integer not null default 0 check (window_request_count >= 0),
  check (substr(key_prefix, 4, 4) = environment)
);
comment on table salesos.api_keys is 'Integration API keys: public key_prefix (sk_<env>_ + 8-char id) and bcrypt hash; the plaintext is never stored.';
create index api_keys_tenant_created_idx on salesos.api_keys (tenant_id, created_at desc, id desc);
comment on column salesos.api_keys.window_started_at is 'Start of the key''s current fixed one-hour rate-limit window; null before the first request.';
comment on column salesos.api_keys.window_request_count is 'Requests admitted in the window that started at window_started_at.';

create table salesos.audit_log (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  actor_id uuid,
  actor_type text not null check (actor_type in ('user', 'service_role', 'cli')),
  action text not null check (action in ('key.create', 'key.update', 'key.revoke', 'key.rotate', 'key.delete')),
  key_id uuid,
  key_prefix text not null,
  source_ip inet,
  changes jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
comment on table salesos.audit_log is 'Who did what to which API key, when and from where; kept after the key is deleted.';
create index audit_log_tenant_created_idx on salesos.audit_log (tenant_id, created_at desc, id desc);

alter table salesos.api_keys enable row level security;
alter table salesos.audit_log enable row level security;
