-- Key management (the api-keys function and the local keys CLI): each mutation writes its audit
-- entry in the same call, so both commit or neither does.
--   dashboard_memberships / tenant_exists -> the tenant a Dashboard token may act for
--   create / get / api_key_page / list / update / revoke / delete / rotate -> the keys
--   api_key_usage / api_key_requests / audit_page -> what a key did, and what was done to keys
--   ensure_tenant / ensure_dashboard_member -> local bootstrap (deno task keys, deno task token)

create function salesos.dashboard_memberships(p_user_id uuid)
returns table (tenant_id uuid, role text)
language sql
stable
set search_path = ''
as $$
  select m.tenant_id, m.role
    from salesos.tenant_members m
   where m.user_id = p_user_id
   order by m.tenant_id;
$$;
comment on function salesos.dashboard_memberships(uuid) is
  'The tenants a Dashboard user belongs to and the role held in each (owner and admin hold admin.integrations).';

create function salesos.tenant_exists(p_tenant_id uuid)
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (select 1 from salesos.tenants t where t.id = p_tenant_id);
$$;
comment on function salesos.tenant_exists(uuid) is
  'Whether a tenant id names a tenant (a service_role caller may name any tenant).';

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

create function salesos.ensure_dashboard_member(p_tenant_id uuid, p_email text, p_role text)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
  v_user_id uuid;
begin
  -- One user per email across tenants, as in Supabase Auth.
  select m.user_id into v_user_id
    from salesos.tenant_members m
   where pg_catalog.lower(m.email) = pg_catalog.lower(pg_catalog.btrim(p_email))
   order by m.created_at
   limit 1;
  if v_user_id is null then
    v_user_id := pg_catalog.gen_random_uuid();
  end if;
  insert into salesos.tenant_members (tenant_id, user_id, email, role)
  values (p_tenant_id, v_user_id, pg_catalog.btrim(p_email), p_role)
  on conflict (tenant_id, user_id) do update set role = excluded.role, email = excluded.email;
  return v_user_id;
end;
$$;
comment on function salesos.ensure_dashboard_member(uuid, text, text) is
  'Local bootstrap only: the user id for this email (new if unknown), made a member of the tenant with this role.';

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
  p_max_active_keys integer,
  p_auth_scheme text default 'bearer',
  p_signing_key bytea default null,
  p_signing_kek_id text default null,
  p_key_sha256 bytea default null
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
                                rate_limit_per_hour, expires_at, ip_allowlist, created_by,
                                auth_scheme, signing_key, signing_kek_id, key_sha256)
  values (p_tenant_id, p_name, p_key_prefix, p_key_hash, p_environment, coalesce(p_scopes, '{}'),
          coalesce(p_rate_limit_per_hour, 1000), p_expires_at, p_ip_allowlist, p_actor_id,
          coalesce(p_auth_scheme, 'bearer'), p_signing_key, p_signing_kek_id, p_key_sha256)
  returning * into v_key;

  insert into salesos.audit_log (tenant_id, actor_id, actor_type, action, key_id, key_prefix, source_ip, changes)
  values (p_tenant_id, p_actor_id, p_actor_type, 'key.create', v_key.id, v_key.key_prefix, p_source_ip,
          salesos.api_key_object(v_key)::jsonb - 'status' - 'created_at' - 'created_by' - 'revoked_at'
            - 'last_used_at' - 'last_used_ip' - 'request_count' - 'id' - 'key_prefix');

  return salesos.api_key_object(v_key);
end;
$$;
comment on function salesos.create_api_key(uuid, uuid, text, inet, text, text, text, text, text[], integer, timestamptz, cidr[], integer, text, bytea, text, bytea) is
  'Creates a key (bearer, or signed with its encrypted k1 and the SHA-256 of its key string) and its key.create audit entry; null when the tenant already holds the maximum of active keys.';

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
create function salesos.get_api_key(p_tenant_id uuid, p_key_id uuid)
returns json
language sql
stable
set search_path = ''
as $$
  select salesos.api_key_object(k) from salesos.api_keys k where k.id = p_key_id and k.tenant_id = p_tenant_id;
$$;
comment on function salesos.get_api_key(uuid, uuid) is 'One key of a tenant as its public object; null when the tenant has no such key.';

create function salesos.api_key_page(
  p_tenant_id uuid,
  p_status text,
  p_environment text,
  p_limit integer,
  p_cursor_at timestamptz,
  p_cursor_id uuid,
  p_auth_scheme text default null
)
returns json
language sql
stable
set search_path = ''
as $$
  with page as (
    select k, k.created_at, k.id, pg_catalog.row_number() over (order by k.created_at desc, k.id desc) as n
      from salesos.api_keys k
     where k.tenant_id = p_tenant_id
       and (p_environment is null or k.environment = p_environment)
       and (p_auth_scheme is null or k.auth_scheme = p_auth_scheme)
       and (p_status is null
            or (p_status = 'revoked' and k.revoked_at is not null)
            or (p_status = 'expired' and k.revoked_at is null and k.expires_at <= now())
            or (p_status = 'active' and k.revoked_at is null and (k.expires_at is null or k.expires_at > now())))
       and (p_cursor_at is null or (k.created_at, k.id) < (p_cursor_at, p_cursor_id))
     order by k.created_at desc, k.id desc
     limit p_limit + 1
  )
  select json_build_object(
    'items', coalesce((select json_agg(salesos.api_key_object(p.k) order by p.n) from page p where p.n <= p_limit), '[]'::json),
    'next_cursor', (select salesos.page_cursor(p.created_at, p.id::text) from page p
                     where p.n = p_limit and exists (select 1 from page q where q.n > p_limit))
  );
$$;
comment on function salesos.api_key_page(uuid, text, text, integer, timestamptz, uuid, text) is
  'A page of a tenant''s keys, newest first, filtered by status, environment and auth scheme, after a (created_at, id) cursor; next_cursor is null on the last page.';

create function salesos.update_api_key(
  p_tenant_id uuid,
  p_key_id uuid,
  p_actor_id uuid,
  p_actor_type text,
  p_source_ip inet,
  p_changes jsonb
)
returns table (outcome text, key json)
language plpgsql
set search_path = ''
as $$
declare
  v_old salesos.api_keys;
  v_new salesos.api_keys;
  v_diff jsonb;
begin
  select * into v_old from salesos.api_keys k where k.id = p_key_id and k.tenant_id = p_tenant_id for update;
  if not found then
    return query select 'not_found'::text, null::json;
    return;
  end if;
  if v_old.revoked_at is not null or v_old.expires_at <= now() then
    return query select 'conflict'::text, salesos.api_key_object(v_old);
    return;
  end if;

  update salesos.api_keys k
     set name = case when p_changes ? 'name' then p_changes ->> 'name' else k.name end,
         scopes = case when p_changes ? 'scopes'
                       then array(select jsonb_array_elements_text(p_changes -> 'scopes'))
                       else k.scopes end,
         rate_limit_per_hour = case when p_changes ? 'rate_limit_per_hour'
                                    then (p_changes ->> 'rate_limit_per_hour')::integer
                                    else k.rate_limit_per_hour end,
         expires_at = case when p_changes ? 'expires_at' then (p_changes ->> 'expires_at')::timestamptz
                           else k.expires_at end,
         -- An empty list is stored as null: both mean "any source address".
         ip_allowlist = case when p_changes ? 'ip_allowlist'
                             then (select array_agg(e.entry::cidr order by e.n)
                                     from jsonb_array_elements_text(
                                            case when jsonb_typeof(p_changes -> 'ip_allowlist') = 'array'
                                                 then p_changes -> 'ip_allowlist' else '[]'::jsonb end
                                          ) with ordinality as e (entry, n))
                             else k.ip_allowlist end
   where k.id = p_key_id
  returning * into v_new;

  select coalesce(jsonb_object_agg(f.field, jsonb_build_object('from', s.before -> f.field, 'to', s.after -> f.field)),
                  '{}'::jsonb)
    into v_diff
    from (select salesos.api_key_object(v_old)::jsonb as before, salesos.api_key_object(v_new)::jsonb as after) s,
         unnest(array['name', 'scopes', 'rate_limit_per_hour', 'expires_at', 'ip_allowlist']) as f (field)
   where (s.before -> f.field) is distinct from (s.after -> f.field);

  if v_diff <> '{}'::jsonb then
    insert into salesos.audit_log (tenant_id, actor_id, actor_type, action, key_id, key_prefix, source_ip, changes)
    values (p_tenant_id, p_actor_id, p_actor_type, 'key.update', v_new.id, v_new.key_prefix, p_source_ip, v_diff);
  end if;
  return query select 'updated'::text, salesos.api_key_object(v_new);
end;
$$;
comment on function salesos.update_api_key(uuid, uuid, uuid, text, inet, jsonb) is
  'Applies the given fields of p_changes to an active key with a key.update audit entry of what changed ({field: {from, to}}, none when nothing did); outcome not_found, conflict (revoked or expired) or updated.';

create function salesos.delete_api_key(
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
  v_object jsonb;
begin
  delete from salesos.api_keys k where k.id = p_key_id and k.tenant_id = p_tenant_id returning * into v_key;
  if not found then
    return null;
  end if;
  v_object := salesos.api_key_object(v_key)::jsonb;
  insert into salesos.audit_log (tenant_id, actor_id, actor_type, action, key_id, key_prefix, source_ip, changes)
  values (p_tenant_id, p_actor_id, p_actor_type, 'key.delete', v_key.id, v_key.key_prefix, p_source_ip,
          jsonb_build_object('name', v_object -> 'name', 'environment', v_object -> 'environment',
                             'status', v_object -> 'status', 'request_count', v_object -> 'request_count'));
  return json_build_object('id', v_key.id, 'key_prefix', v_key.key_prefix, 'deleted', true);
end;
$$;
comment on function salesos.delete_api_key(uuid, uuid, uuid, text, inet) is
  'Deletes a tenant''s key for good with a key.delete audit entry; null when the tenant has no such key. Its request log rows and counts are left as they are (no API reads them once the key is gone) until they expire: the cost does not grow with the log.';

create function salesos.rotate_api_key(
  p_tenant_id uuid,
  p_key_id uuid,
  p_actor_id uuid,
  p_actor_type text,
  p_source_ip inet,
  p_key_prefix text,
  p_key_hash text,
  p_grace_period_seconds integer,
  p_max_active_keys integer,
  p_signing_key bytea default null,
  p_signing_kek_id text default null,
  p_key_sha256 bytea default null
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

  -- The new key keeps the scheme: a signed key's successor is signed, with its own new secret.
  insert into salesos.api_keys (tenant_id, name, key_prefix, key_hash, environment, scopes,
                                rate_limit_per_hour, expires_at, ip_allowlist, created_by,
                                auth_scheme, signing_key, signing_kek_id, key_sha256)
  values (v_old.tenant_id, v_old.name, p_key_prefix, p_key_hash, v_old.environment, v_old.scopes,
          v_old.rate_limit_per_hour, v_old.expires_at, v_old.ip_allowlist, p_actor_id,
          v_old.auth_scheme,
          case when v_old.auth_scheme = 'signed' then p_signing_key end,
          case when v_old.auth_scheme = 'signed' then p_signing_kek_id end,
          case when v_old.auth_scheme = 'signed' then p_key_sha256 end)
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
comment on function salesos.rotate_api_key(uuid, uuid, uuid, text, inet, text, text, integer, integer, bytea, text, bytea) is
  'Replaces an active key by a new one with the same settings and scheme (a signed key''s successor gets p_signing_key and p_key_sha256); the old one expires after the grace period (never later than it would have). A grace period needs a free place under the tenant''s cap of active keys. A key.rotate audit entry for the old key and a key.create entry (with rotated_from) for the new one. Outcome not_found, conflict (revoked or expired), limit or rotated.';

create function salesos.api_key_usage(
  p_tenant_id uuid,
  p_key_id uuid,
  p_from timestamptz,
  p_to timestamptz,
  p_bucket text
)
returns json
language plpgsql
stable
set search_path = ''
as $$
declare
  v_key salesos.api_keys;
  v_step interval := case p_bucket when 'day' then interval '1 day' else interval '1 hour' end;
begin
  select * into v_key from salesos.api_keys k where k.id = p_key_id and k.tenant_id = p_tenant_id;
  if not found then
    return null;
  end if;

  return (
    with slots as (
      -- Bucket starts in UTC, computed on timestamps without time zone so no session setting moves them.
      select g.start
        from pg_catalog.generate_series(pg_catalog.date_trunc(p_bucket, p_from at time zone 'UTC'),
                                        p_to at time zone 'UTC', v_step) as g (start)
       where g.start < p_to at time zone 'UTC'
    ),
    counts as (
      select pg_catalog.date_trunc(p_bucket, r.hour at time zone 'UTC') as start,
             sum(r.requests) as total,
             coalesce(sum(r.requests) filter (where r.status between 200 and 299), 0) as s2xx,
             coalesce(sum(r.requests) filter (where r.status between 400 and 499), 0) as s4xx,
             coalesce(sum(r.requests) filter (where r.status = 429), 0) as s429,
             coalesce(sum(r.requests) filter (where r.status between 500 and 599), 0) as s5xx
        from salesos.request_counts r
       where r.tenant_id = p_tenant_id and r.key_id = p_key_id
         and r.hour >= pg_catalog.date_trunc('hour', p_from, 'UTC') and r.hour < p_to
       group by 1
    )
    select json_build_object(
      'key_id', v_key.id,
      'from', salesos.iso_utc(p_from),
      'to', salesos.iso_utc(p_to),
      'bucket', p_bucket,
      'totals', json_build_object('total', coalesce(sum(c.total), 0), '2xx', coalesce(sum(c.s2xx), 0),
                                  '4xx', coalesce(sum(c.s4xx), 0), '429', coalesce(sum(c.s429), 0),
                                  '5xx', coalesce(sum(c.s5xx), 0)),
      'buckets', coalesce(json_agg(json_build_object(
                   'start', salesos.iso_utc(s.start at time zone 'UTC'),
                   'total', coalesce(c.total, 0),
                   '2xx', coalesce(c.s2xx, 0),
                   '4xx', coalesce(c.s4xx, 0),
                   '429', coalesce(c.s429, 0),
                   '5xx', coalesce(c.s5xx, 0)) order by s.start), '[]'::json),
      'last_used_at', salesos.iso_utc(v_key.last_used_at),
      'last_used_ip', pg_catalog.host(v_key.last_used_ip),
      'request_count', v_key.request_count)
      from slots s
      left join counts c on c.start = s.start
  );
end;
$$;
comment on function salesos.api_key_usage(uuid, uuid, timestamptz, timestamptz, text) is
  'Request counts of a tenant''s key in [p_from, p_to) per UTC hour or day bucket (every bucket, zeros included) by status class (and 429, also within 4xx), with last use; null when the tenant has no such key. Read from request_counts (admitted and refused requests, per whole UTC hour: an hour the range only partly covers counts whole), never from the log.';

create function salesos.api_key_requests(
  p_tenant_id uuid,
  p_key_id uuid,
  p_limit integer,
  p_cursor_at timestamptz,
  p_cursor_id bigint
)
returns json
language plpgsql
stable
set search_path = ''
as $$
begin
  if not exists (select 1 from salesos.api_keys k where k.id = p_key_id and k.tenant_id = p_tenant_id) then
    return null;
  end if;
  return (
    with page as (
      select r.*, pg_catalog.row_number() over (order by r.created_at desc, r.id desc) as n
        from salesos.request_log r
       where r.key_id = p_key_id and r.tenant_id = p_tenant_id
         and (p_cursor_at is null or (r.created_at, r.id) < (p_cursor_at, p_cursor_id))
       order by r.created_at desc, r.id desc
       limit p_limit + 1
    )
    select json_build_object(
      'items', coalesce((select json_agg(json_build_object(
                           'request_id', p.request_id,
                           'time', salesos.iso_utc(p.created_at),
                           'action', p.action,
                           'status', p.status,
                           'ip', pg_catalog.host(p.ip),
                           'latency_ms', p.latency_ms,
                           'item_counts', p.item_counts) order by p.n)
                           from page p where p.n <= p_limit), '[]'::json),
      'next_cursor', (select salesos.page_cursor(p.created_at, p.id::text) from page p
                       where p.n = p_limit and exists (select 1 from page q where q.n > p_limit)))
  );
end;
$$;
comment on function salesos.api_key_requests(uuid, uuid, integer, timestamptz, bigint) is
  'A page of a tenant''s key''s request log (admitted requests only; refusals are only counted), newest first, after a (created_at, id) cursor; null when the tenant has no such key.';

create function salesos.audit_page(
  p_tenant_id uuid,
  p_key_id uuid,
  p_action text,
  p_limit integer,
  p_cursor_at timestamptz,
  p_cursor_id bigint
)
returns json
language sql
stable
set search_path = ''
as $$
  with page as (
    select a.*, pg_catalog.row_number() over (order by a.created_at desc, a.id desc) as n
      from salesos.audit_log a
     where a.tenant_id = p_tenant_id
       and (p_key_id is null or a.key_id = p_key_id)
       and (p_action is null or a.action = p_action)
       and (p_cursor_at is null or (a.created_at, a.id) < (p_cursor_at, p_cursor_id))
     order by a.created_at desc, a.id desc
     limit p_limit + 1
  )
  select json_build_object(
    'items', coalesce((select json_agg(json_build_object(
                         'id', p.id,
                         'time', salesos.iso_utc(p.created_at),
                         'action', p.action,
                         'actor', json_build_object(
                           'type', p.actor_type,
                           'id', p.actor_id,
                           'email', (select m.email from salesos.tenant_members m
                                      where m.tenant_id = p.tenant_id and m.user_id = p.actor_id)),
                         'key_id', p.key_id,
                         'key_prefix', p.key_prefix,
                         'source_ip', pg_catalog.host(p.source_ip),
                         'changes', p.changes) order by p.n)
                         from page p where p.n <= p_limit), '[]'::json),
    'next_cursor', (select salesos.page_cursor(p.created_at, p.id::text) from page p
                     where p.n = p_limit and exists (select 1 from page q where q.n > p_limit)));
$$;
comment on function salesos.audit_page(uuid, uuid, text, integer, timestamptz, bigint) is
  'A page of a tenant''s key-management audit log, newest first, optionally for one key or one action, after a (created_at, id) cursor.';

-- Nothing here is for the API roles: functions are executable by PUBLIC when created.
