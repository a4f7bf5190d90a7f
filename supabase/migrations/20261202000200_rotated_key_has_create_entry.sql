-- A key made by a rotation has its own key.create audit entry.
--
-- Only the old key's key.rotate entry named the new key, so the audit log filtered by the new
-- key's id (GET /api-keys/audit?key_id=…) did not say where the key came from. The rotation now
-- also writes a key.create entry for the new key: its settings, as a creation's entry holds them,
-- and rotated_from, the old key's id.

create or replace function salesos.rotate_api_key(
  p_tenant_id uuid,
  p_key_id uuid,
  p_actor_id uuid,
  p_actor_type text,
  p_source_ip inet,
  p_key_prefix text,
  p_key_hash text,
  p_grace_period_seconds integer,
  p_max_active_keys integer
)
returns table (outcome text, key json, previous json)
language plpgsql
set search_path = ''
as $$
declare
  v_old salesos.api_keys;
  v_old_after salesos.api_keys;
  v_new salesos.api_keys;
begin
  perform 1 from salesos.tenants t where t.id = p_tenant_id for no key update;
  select * into v_old from salesos.api_keys k where k.id = p_key_id and k.tenant_id = p_tenant_id for update;
  if not found then
    return query select 'not_found'::text, null::json, null::json;
    return;
  end if;
  if v_old.revoked_at is not null or v_old.expires_at <= now() then
    return query select 'conflict'::text, null::json, salesos.api_key_object(v_old);
    return;
  end if;
  if p_grace_period_seconds > 0
     and (select count(*) from salesos.api_keys k
           where k.tenant_id = p_tenant_id and k.revoked_at is null
             and (k.expires_at is null or k.expires_at > now())) >= p_max_active_keys then
    return query select 'limit'::text, null::json, salesos.api_key_object(v_old);
    return;
  end if;

  -- The grace period never extends a key that was due to expire sooner.
  update salesos.api_keys k
     set expires_at = least(coalesce(k.expires_at, 'infinity'::timestamptz),
                            now() + pg_catalog.make_interval(secs => p_grace_period_seconds))
   where k.id = v_old.id
  returning * into v_old_after;

  insert into salesos.api_keys (tenant_id, name, key_prefix, key_hash, environment, scopes,
                                rate_limit_per_hour, expires_at, ip_allowlist, created_by)
  values (v_old.tenant_id, v_old.name, p_key_prefix, p_key_hash, v_old.environment, v_old.scopes,
          v_old.rate_limit_per_hour, v_old.expires_at, v_old.ip_allowlist, p_actor_id)
  returning * into v_new;

  insert into salesos.audit_log (tenant_id, actor_id, actor_type, action, key_id, key_prefix, source_ip, changes)
  values (p_tenant_id, p_actor_id, p_actor_type, 'key.rotate', v_old.id, v_old.key_prefix, p_source_ip,
          jsonb_build_object(
            'new_key_id', v_new.id,
            'new_key_prefix', v_new.key_prefix,
            'grace_period_seconds', p_grace_period_seconds,
            'expires_at', jsonb_build_object('from', salesos.iso_utc(v_old.expires_at),
                                             'to', salesos.iso_utc(v_old_after.expires_at))));
  insert into salesos.audit_log (tenant_id, actor_id, actor_type, action, key_id, key_prefix, source_ip, changes)
  values (p_tenant_id, p_actor_id, p_actor_type, 'key.create', v_new.id, v_new.key_prefix, p_source_ip,
          salesos.api_key_object(v_new)::jsonb - 'status' - 'created_at' - 'created_by' - 'revoked_at'
            - 'last_used_at' - 'last_used_ip' - 'request_count' - 'id' - 'key_prefix'
            || jsonb_build_object('rotated_from', v_old.id));

  return query select 'rotated'::text, salesos.api_key_object(v_new), salesos.api_key_object(v_old_after);
end;
$$;
comment on function salesos.rotate_api_key(uuid, uuid, uuid, text, inet, text, text, integer, integer) is
  'Replaces an active key by a new one with the same settings; the old one expires after the grace period (never later than it would have). A grace period needs a free place under the tenant''s cap of active keys. A key.rotate audit entry for the old key and a key.create entry (with rotated_from) for the new one. Outcome not_found, conflict (revoked or expired), limit or rotated.';

revoke execute on all functions in schema salesos from public;
