-- API keys, with each key's hourly rate-limit window on its own row, and the audit log of what was
-- done to them.

create table salesos.api_keys (
  id uuid not null default gen_random_uuid(),
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
  -- P2S-SIGN-V1 (signed requests): a signed key keeps k1 = HMAC_SHA256(secret, key), encrypted with
  -- AES-256-GCM under the key-encryption key named by signing_kek_id; never the secret itself.
  auth_scheme text not null default 'bearer' check (auth_scheme in ('bearer', 'signed')),
  signing_key bytea,
  signing_kek_id text,
  -- Signed keys: SHA-256 of the full key string, so a request's key is proven before its body is
  -- read (a forged key with a real prefix and a valid checksum is refused at once).
  key_sha256 bytea,
  constraint api_keys_key_sha256_check check (
    key_sha256 is null or (octet_length(key_sha256) = 32 and auth_scheme = 'signed')
  ),
  check (substr(key_prefix, 4, 4) = environment),
  constraint api_keys_signing_key_check check (
    (auth_scheme = 'signed') = (signing_key is not null and signing_kek_id is not null)
    and (signing_key is null or octet_length(signing_key) = 60)
  ),
  -- The id leads (keys are found by id alone); the tenant is part of every key, for distribution by tenant.
  primary key (id, tenant_id)
);
comment on table salesos.api_keys is 'Integration API keys: public key_prefix (sk_<env>_ + 8-char id) and bcrypt hash; the plaintext is never stored.';
create index api_keys_tenant_created_idx on salesos.api_keys (tenant_id, created_at desc, id desc);
comment on column salesos.api_keys.window_started_at is 'Start of the key''s current fixed one-hour rate-limit window; null before the first request.';
comment on column salesos.api_keys.window_request_count is 'Requests admitted in the window that started at window_started_at.';
comment on column salesos.api_keys.auth_scheme is 'bearer: Authorization: Bearer <key>; signed: P2S-SIGN-V1 signed requests only.';
comment on column salesos.api_keys.signing_key is 'Signed keys: 12-byte IV || AES-256-GCM ciphertext and tag of k1 = HMAC_SHA256(secret, key) (the secret is never stored).';
comment on column salesos.api_keys.key_sha256 is 'Signed keys: SHA-256 of the full key string (set at creation and rotation; null for signed keys created before it existed, proven by key_hash instead).';
comment on column salesos.api_keys.signing_kek_id is 'Signed keys: the id of the key-encryption key (SIGNING_KEK_ID) signing_key is encrypted under.';

create table salesos.audit_log (
  -- Numbered per tenant (salesos.number_audit_entry), so an id tells nothing about other tenants.
  id bigint not null,
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  actor_id uuid,
  actor_type text not null check (actor_type in ('user', 'service_role', 'cli')),
  action text not null check (action in ('key.create', 'key.update', 'key.revoke', 'key.rotate', 'key.delete')),
  key_id uuid,
  key_prefix text not null,
  source_ip inet,
  changes jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id)
);
comment on table salesos.audit_log is 'Who did what to which API key, when and from where; kept after the key is deleted.';
create index audit_log_tenant_created_idx on salesos.audit_log (tenant_id, created_at desc, id desc);

create table salesos.audit_log_ids (
  tenant_id uuid primary key references salesos.tenants (id) on delete cascade,
  last_id bigint not null
);
comment on table salesos.audit_log_ids is 'The last audit_log id given in each tenant: audit ids count per tenant.';

create function salesos.number_audit_entry()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- Taken last in every key-management call, after the key row and (first) the tenant row's key
  -- share lock the entry's foreign key needs anyway: every call locks in the same order.
  perform 1 from salesos.tenants t where t.id = new.tenant_id for key share;
  insert into salesos.audit_log_ids as i (tenant_id, last_id) values (new.tenant_id, 1)
  on conflict (tenant_id) do update set last_id = i.last_id + 1
  returning i.last_id into new.id;
  return new;
end;
$$;
comment on function salesos.number_audit_entry() is
  'Trigger: gives a new audit_log entry the next id of its tenant (ids increase per tenant, in commit order of the tenant''s key changes).';

create trigger audit_log_numbered before insert on salesos.audit_log
  for each row execute function salesos.number_audit_entry();

alter table salesos.api_keys enable row level security;
alter table salesos.audit_log enable row level security;
alter table salesos.audit_log_ids enable row level security;
