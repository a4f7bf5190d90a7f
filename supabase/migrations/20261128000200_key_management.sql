-- Key management: the key object, the audit log, and each mutation with its audit entry in one
-- transaction (a function call is one). Used by the api-keys function and the local keys CLI.

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
alter table salesos.audit_log enable row level security;
revoke all on salesos.audit_log from public, anon, authenticated;

create function salesos.iso_utc(p_at timestamptz)
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
$$;
comment on function salesos.iso_utc(timestamptz) is 'ISO 8601 UTC with milliseconds, the API''s one timestamp format.';

create function salesos.api_key_object(p_key salesos.api_keys)
returns json
language sql
stable
set search_path = ''
as $$
  select json_build_object(
    'id', p_key.id,
    'name', p_key.name,
    'key_prefix', p_key.key_prefix,
    'environment', p_key.environment,
    'scopes', to_jsonb(p_key.scopes),
    'rate_limit_per_hour', p_key.rate_limit_per_hour,
    'ip_allowlist', (select coalesce(jsonb_agg(case when pg_catalog.masklen(c) = case when pg_catalog.family(c) = 4 then 32 else 128 end
                                                    then pg_catalog.host(c) else c::text end order by n), '[]'::jsonb)
                       from unnest(p_key.ip_allowlist) with ordinality as a (c, n)),
    'expires_at', salesos.iso_utc(p_key.expires_at),
    'status', case when p_key.revoked_at is not null then 'revoked'
                   when p_key.expires_at is not null and p_key.expires_at <= now() then 'expired'
                   else 'active' end,
    'created_at', salesos.iso_utc(p_key.created_at),
    'created_by', p_key.created_by,
    'revoked_at', salesos.iso_utc(p_key.revoked_at),
    'last_used_at', salesos.iso_utc(p_key.last_used_at),
    'last_used_ip', pg_catalog.host(p_key.last_used_ip),
    'request_count', p_key.request_count
  );
$$;
comment on function salesos.api_key_object(salesos.api_keys) is 'The public key object: never the hash, never the plaintext.';

create function salesos.ensure_tenant(p_slug text)
returns uuid
language sql
set search_path = ''
as $$
  with created as (
    insert into salesos.tenants (slug, name) values (p_slug, p_slug)
    on conflict (slug) do nothing
    returning id
  )
  select id from created
  union all
  select id from salesos.tenants where slug = p_slug
  limit 1;
$$;
comment on function salesos.ensure_tenant(text) is 'Id of the tenant with this slug, created if missing (local bootstrap tools only).';

create function salesos.create_api_key(
  p_tenant_id uuid,
  p_actor_id uuid,
  p_actor_type text,
  p_source_ip inet,
  p_name text,
  p_environment text,
  p_key_prefix text,
  p_key_hash text,
  p_scopes text[],
  p_rate_limit_per_hour integer,
  p_expires_at timestamptz,
  p_ip_allowlist cidr[],
  p_max_active_keys integer
)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_key salesos.api_keys;
begin
  -- Serialise creations per tenant so the active-key cap holds under concurrency.
  perform 1 from salesos.tenants t where t.id = p_tenant_id for update;
  if (select count(*) from salesos.api_keys k
       where k.tenant_id = p_tenant_id and k.revoked_at is null
         and (k.expires_at is null or k.expires_at > now())) >= p_max_active_keys then
    return null;
  end if;

  insert into salesos.api_keys (tenant_id, name, key_prefix, key_hash, environment, scopes,
                                rate_limit_per_hour, expires_at, ip_allowlist, created_by)
  values (p_tenant_id, p_name, p_key_prefix, p_key_hash, p_environment, coalesce(p_scopes, '{}'),
          coalesce(p_rate_limit_per_hour, 1000), p_expires_at, p_ip_allowlist, p_actor_id)
  returning * into v_key;

  insert into salesos.audit_log (tenant_id, actor_id, actor_type, action, key_id, key_prefix, source_ip, changes)
  values (p_tenant_id, p_actor_id, p_actor_type, 'key.create', v_key.id, v_key.key_prefix, p_source_ip,
          salesos.api_key_object(v_key)::jsonb - 'status' - 'created_at' - 'created_by' - 'revoked_at'
            - 'last_used_at' - 'last_used_ip' - 'request_count' - 'id' - 'key_prefix');

  return salesos.api_key_object(v_key);
end;
$$;
comment on function salesos.create_api_key(uuid, uuid, text, inet, text, text, text, text, text[], integer, timestamptz, cidr[], integer) is
  'Creates a key and its key.create audit entry; null when the tenant already holds the maximum of active keys.';

create function salesos.revoke_api_key(
  p_tenant_id uuid,
  p_key_id uuid,
  p_actor_id uuid,
  p_actor_type text,
  p_source_ip inet
)
returns json
language plpgsql
set search_path = ''
as $$
declare
  v_key salesos.api_keys;
begin
  update salesos.api_keys k set revoked_at = now()
   where k.id = p_key_id and k.tenant_id = p_tenant_id and k.revoked_at is null
  returning * into v_key;
  if found then
    insert into salesos.audit_log (tenant_id, actor_id, actor_type, action, key_id, key_prefix, source_ip, changes)
    values (p_tenant_id, p_actor_id, p_actor_type, 'key.revoke', v_key.id, v_key.key_prefix, p_source_ip,
            jsonb_build_object('revoked_at', salesos.iso_utc(v_key.revoked_at)));
  else
    -- Already revoked (idempotent) or not this tenant's key (null: not found).
    select * into v_key from salesos.api_keys k where k.id = p_key_id and k.tenant_id = p_tenant_id;
    if not found then
      return null;
    end if;
  end if;
  return salesos.api_key_object(v_key);
end;
$$;
comment on function salesos.revoke_api_key(uuid, uuid, uuid, text, inet) is
  'Revokes a tenant''s key now with a key.revoke audit entry; idempotent; null when the tenant has no such key.';

create function salesos.list_api_keys(
  p_tenant_id uuid,
  p_status text,
  p_environment text,
  p_limit integer,
  p_after_created_at timestamptz,
  p_after_id uuid
)
returns setof json
language sql
stable
set search_path = ''
as $$
  select salesos.api_key_object(k)
    from salesos.api_keys k
   where k.tenant_id = p_tenant_id
     and (p_environment is null or k.environment = p_environment)
     and (p_status is null
          or (p_status = 'revoked' and k.revoked_at is not null)
          or (p_status = 'expired' and k.revoked_at is null and k.expires_at <= now())
          or (p_status = 'active' and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())))
     and (p_after_created_at is null or (k.created_at, k.id) < (p_after_created_at, p_after_id))
   order by k.created_at desc, k.id desc
   limit p_limit;
$$;
comment on function salesos.list_api_keys(uuid, text, text, integer, timestamptz, uuid) is
  'A page of a tenant''s keys, newest first, after the (created_at, id) cursor.';

-- Nothing here is for the API roles: functions are executable by PUBLIC when created.
revoke execute on all functions in schema salesos from public;
