-- SalesOS Integration API: tenants, API keys, rate-limit windows, synced data and the request log.
-- Everything lives in the private schema `salesos`, which the Data API does not expose. The edge
-- functions reach it through their own database connection; `anon` and `authenticated` get nothing.

-- Supabase creates these roles; a plain Postgres (local runs, tests) may not have them yet.
do $$
declare
  role_name text;
begin
  foreach role_name in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
      begin
        execute pg_catalog.format('create role %I nologin', role_name);
      exception when duplicate_object or unique_violation then
        null; -- created concurrently by another database of the same cluster
      end;
    end if;
  end loop;
end
$$;

create schema salesos;
comment on schema salesos is 'SalesOS Integration API. Private: reached only by the edge functions'' own connection.';

revoke all on schema salesos from public;
-- Functions are executable by PUBLIC when created, and a schema's default privileges cannot take
-- that away (they only add to the global ones): nothing here is meant for the API roles, so every
-- migration that creates functions ends by revoking EXECUTE from PUBLIC on all of them.
-- supabase/tests/database/privileges.test.sql checks that no API role can execute any.

create table salesos.tenants (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null check (char_length(name) between 1 and 200),
  created_at timestamptz not null default now()
);
comment on table salesos.tenants is 'A customer company. Every other row belongs to exactly one tenant.';

create table salesos.tenant_members (
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  user_id uuid not null,
  email text,
  role text not null check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (tenant_id, user_id)
);
comment on table salesos.tenant_members is 'Dashboard users (Supabase Auth user ids) of a tenant and their role; owner and admin hold admin.integrations.';
create index tenant_members_user_id_idx on salesos.tenant_members (user_id);

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
  check (substr(key_prefix, 4, 4) = environment)
);
comment on table salesos.api_keys is 'Integration API keys: public key_prefix (sk_<env>_ + 8-char id) and bcrypt hash; the plaintext is never stored.';
create index api_keys_tenant_created_idx on salesos.api_keys (tenant_id, created_at desc, id desc);

create table salesos.rate_limit_windows (
  key_id uuid primary key references salesos.api_keys (id) on delete cascade,
  window_started_at timestamptz not null,
  request_count integer not null check (request_count >= 0)
);
comment on table salesos.rate_limit_windows is 'Fixed one-hour rate-limit window per API key, incremented atomically by salesos.admit_request.';

create table salesos.collaborators (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  environment text not null check (environment in ('live', 'test')),
  external_id text not null check (char_length(external_id) between 1 and 255),
  name text not null check (char_length(name) between 1 and 255),
  email text not null check (char_length(email) between 3 and 320),
  email_normalized text generated always as (lower(btrim(email))) stored,
  phone text check (char_length(phone) <= 50),
  document text check (char_length(document) <= 20),
  team text check (char_length(team) <= 100),
  role text check (char_length(role) <= 50),
  metadata jsonb check (metadata is null or jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The identifying column leads each unique index: a lookup by email can only use the email
  -- index (and one by external_id the other), whatever the statistics say while the table grows.
  unique (email_normalized, tenant_id, environment),
  -- A batch may move an external_id from one collaborator to another (renumbering, even a swap):
  -- uniqueness is checked at the end of the upsert statement, not row by row in its write order.
  unique (external_id, tenant_id, environment) deferrable initially immediate
);
comment on table salesos.collaborators is 'Salespeople synced by sync_collaborators; identity is the trimmed, lower-cased email per tenant and environment.';

create table salesos.activities (
  id bigint generated always as identity primary key,
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  environment text not null check (environment in ('live', 'test')),
  external_id text not null check (char_length(external_id) between 1 and 255),
  activity_code text not null check (activity_code ~ '^[0-9]{3}$' and activity_code <> '000'),
  collaborator_id uuid not null references salesos.collaborators (id) on delete cascade,
  data jsonb check (data is null or jsonb_typeof(data) = 'object'),
  occurred_at timestamptz not null,
  received_at timestamptz not null default now(),
  request_id uuid not null,
  unique (external_id, tenant_id, environment)
);
comment on table salesos.activities is 'Numbered CRM activities (001-999) of collaborators; stored once per external_id, tenant and environment.';
create index activities_collaborator_idx on salesos.activities (collaborator_id, occurred_at);

create table salesos.request_log (
  id bigint generated always as identity primary key,
  request_id uuid not null,
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  key_id uuid references salesos.api_keys (id) on delete set null,
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

alter table salesos.tenants enable row level security;
alter table salesos.tenant_members enable row level security;
alter table salesos.api_keys enable row level security;
alter table salesos.rate_limit_windows enable row level security;
alter table salesos.collaborators enable row level security;
alter table salesos.activities enable row level security;
alter table salesos.request_log enable row level security;

revoke all on all tables in schema salesos from public, anon, authenticated;
revoke all on all sequences in schema salesos from public, anon, authenticated;
