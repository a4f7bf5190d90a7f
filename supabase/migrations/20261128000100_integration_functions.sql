-- The work of default-integration, one function call per request step:
--   find_api_key     -> the bcrypt hash to verify a presented key once per instance
--   admit_request    -> status, IP allowlist, scope and the hourly window, in one atomic call
--   sync_collaborators / sync_activities -> one set-based statement per batch, plus its log row
--   log_request      -> the log row of an admitted request that did not succeed

create function salesos.find_api_key(p_key_prefix text)
returns table (id uuid, key_hash text)
language sql
stable
set search_path = ''
as $$
  select k.id, k.key_hash from salesos.api_keys k where k.key_prefix = p_key_prefix;
$$;
comment on function salesos.find_api_key(text) is 'Id and bcrypt hash of the key with this public prefix, for the one compare an instance does per key.';

create function salesos.admit_request(
  p_key_id uuid,
  p_ip inet,
  p_required_scope text,
  p_request_id uuid,
  p_elapsed_ms integer
)
returns table (
  outcome text,
  tenant_id uuid,
  environment text,
  key_prefix text,
  rate_limit integer,
  remaining integer,
  reset_seconds integer
)
language plpgsql
set search_path = ''
as $$
declare
  v_key record;
  v_window record;
  v_outcome text;
begin
  select k.tenant_id, k.environment, k.key_prefix, k.scopes, k.ip_allowlist, k.rate_limit_per_hour
    into v_key
    from salesos.api_keys k
   where k.id = p_key_id
     and k.revoked_at is null
     and (k.expires_at is null or k.expires_at > now());
  if not found then
    return query select 'invalid'::text, null::uuid, null::text, null::text, null::integer, null::integer, null::integer;
    return;
  end if;

  if coalesce(cardinality(v_key.ip_allowlist), 0) > 0
     and (p_ip is null or not p_ip <<= any (v_key.ip_allowlist)) then
    v_outcome := 'ip_not_allowed';
  elsif cardinality(v_key.scopes) > 0 and not p_required_scope = any (v_key.scopes) then
    v_outcome := 'missing_scope';
  else
    -- The fixed window in one statement: the row lock of the upsert serialises concurrent
    -- requests, and the where clause sees the latest count, so the limit is exact.
    insert into salesos.rate_limit_windows as w (key_id, window_started_at, request_count)
    values (p_key_id, now(), 1)
    on conflict (key_id) do update
       set window_started_at = case when w.window_started_at + interval '1 hour' <= now()
                                    then now() else w.window_started_at end,
           request_count = case when w.window_started_at + interval '1 hour' <= now()
                                then 1 else w.request_count + 1 end
     where w.window_started_at + interval '1 hour' <= now()
        or w.request_count < v_key.rate_limit_per_hour
    returning w.window_started_at, w.request_count into v_window;
    v_outcome := case when v_window is null then 'rate_limited' else 'admitted' end;
  end if;

  if v_outcome = 'admitted' then
    update salesos.api_keys k
       set last_used_at = now(), last_used_ip = p_ip, request_count = k.request_count + 1
     where k.id = p_key_id;
  else
    select w.window_started_at, w.request_count into v_window
      from salesos.rate_limit_windows w
     where w.key_id = p_key_id and w.window_started_at + interval '1 hour' > now();
    insert into salesos.request_log (request_id, tenant_id, key_id, environment, status, ip, latency_ms)
    values (p_request_id, v_key.tenant_id, p_key_id, v_key.environment,
            case v_outcome when 'rate_limited' then 429 else 403 end, p_ip,
            p_elapsed_ms + (extract(epoch from clock_timestamp() - statement_timestamp()) * 1000)::integer);
  end if;

  return query select
    v_outcome,
    v_key.tenant_id,
    v_key.environment,
    v_key.key_prefix,
    v_key.rate_limit_per_hour,
    greatest(v_key.rate_limit_per_hour - coalesce(v_window.request_count, 0), 0),
    case when v_window.window_started_at is null then 3600
         else greatest(ceil(extract(epoch from v_window.window_started_at + interval '1 hour' - now())), 1)::integer
    end;
end;
$$;
comment on function salesos.admit_request(uuid, inet, text, uuid, integer) is
  'Checks a verified key''s status, IP allowlist and scope, then counts the request in its hourly window; logs refusals.';

create function salesos.log_request(
  p_request_id uuid,
  p_tenant_id uuid,
  p_key_id uuid,
  p_environment text,
  p_action text,
  p_status integer,
  p_ip inet,
  p_latency_ms integer,
  p_item_counts jsonb
)
returns void
language sql
set search_path = ''
as $$
  insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, ip, latency_ms, item_counts)
  values (p_request_id, p_tenant_id, p_key_id, p_environment, p_action, p_status, p_ip, p_latency_ms, p_item_counts);
$$;
comment on function salesos.log_request(uuid, uuid, uuid, text, text, integer, inet, integer, jsonb) is
  'Records an admitted request that ended before its action ran (invalid body).';

create function salesos.sync_activities(
  p_tenant_id uuid,
  p_environment text,
  p_key_id uuid,
  p_request_id uuid,
  p_ip inet,
  p_elapsed_ms integer,
  p_activities jsonb
)
returns table (processed integer, skipped integer, duplicates integer)
language plpgsql
set search_path = ''
as $$
declare
  v_total integer := jsonb_array_length(p_activities);
  v_processed integer;
  v_skipped integer;
begin
  with items as (
    select a.ord, a.external_id, a.activity_code, lower(btrim(a.collaborator_email)) as email_key,
           a.data, coalesce(a.occurred_at, now()) as occurred_at
      from jsonb_to_recordset(p_activities)
           as a (ord integer, external_id text, activity_code text, collaborator_email text,
                 data jsonb, occurred_at timestamptz)
  ),
  first_of_each as (
    select distinct on (i.external_id) i.* from items i order by i.external_id, i.ord
  ),
  -- One unique-index probe per item: a lateral subquery kept apart by "offset 0", so the planner
  -- cannot flatten it into a join that scans the tenant's collaborators when statistics lag
  -- behind a fast-growing table.
  matched as (
    select f.*, c.id as collaborator_id
      from first_of_each f
      left join lateral (
           select c.id from salesos.collaborators c
            where c.email_normalized = f.email_key and c.tenant_id = p_tenant_id and c.environment = p_environment
           offset 0
      ) c on true
  ),
  inserted as (
    -- Rows go in external_id order so concurrent overlapping batches wait on each other
    -- instead of deadlocking; on conflict makes replays store each activity once.
    insert into salesos.activities (tenant_id, environment, external_id, activity_code, collaborator_id,
                                    data, occurred_at, request_id)
    select p_tenant_id, p_environment, m.external_id, m.activity_code, m.collaborator_id,
           m.data, m.occurred_at, p_request_id
      from matched m
     where m.collaborator_id is not null
     order by m.external_id
    on conflict (tenant_id, environment, external_id) do nothing
    returning 1
  )
  select (select count(*) from inserted),
         (select count(*) from matched m
           where m.collaborator_id is null
             and not exists (select 1 from salesos.activities a
                              where a.tenant_id = p_tenant_id and a.environment = p_environment
                                and a.external_id = m.external_id))
    into v_processed, v_skipped;

  insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, ip, latency_ms, item_counts)
  values (p_request_id, p_tenant_id, p_key_id, p_environment, 'sync_activities', 200, p_ip,
          p_elapsed_ms + (extract(epoch from clock_timestamp() - statement_timestamp()) * 1000)::integer,
          jsonb_build_object('total', v_total, 'processed', v_processed, 'skipped', v_skipped,
                             'duplicates', v_total - v_processed - v_skipped));

  return query select v_processed, v_skipped, v_total - v_processed - v_skipped;
end;
$$;
comment on function salesos.sync_activities(uuid, text, uuid, uuid, inet, integer, jsonb) is
  'Stores a validated batch of activities in one statement: first occurrence per external_id, known collaborators only, each once.';

create function salesos.sync_collaborators(
  p_tenant_id uuid,
  p_environment text,
  p_key_id uuid,
  p_request_id uuid,
  p_ip inet,
  p_elapsed_ms integer,
  p_total integer,
  p_collaborators jsonb
)
returns table (created integer, existing integer, conflicts jsonb)
language plpgsql
set search_path = ''
as $$
declare
  v_created integer;
  v_accepted integer;
  v_conflicts integer[];
  v_conflict_ords jsonb;
  v_holder jsonb;   -- external_id -> email_key holding it, as the items apply
  v_id_of jsonb;    -- email_key -> its external_id, as the items apply
  v_walk jsonb;     -- the items that touch a contested external_id, in order
  v_item record;
  v_attempt integer := 0;
begin
  loop
    begin
      -- Items apply in order, so whether an item's external_id is held by another collaborator
      -- can depend on the items before it. Only contested external_ids (held by another email
      -- before the batch, or given to two emails in it) can conflict: walk, in memory and in
      -- order, just the items that touch them, starting from who held what before the batch.
      with items as (
        select i.ord, i.external_id, lower(btrim(i.email)) as email_key
          from jsonb_to_recordset(p_collaborators) as i (ord integer, external_id text, email text)
      ),
      -- Who holds each external_id of the batch now: one unique-index probe per id (a lateral
      -- subquery kept apart by "offset 0", so the plan cannot become a scan of the tenant's
      -- collaborators when statistics lag behind). Ids outside the batch cannot conflict in it.
      stored as (
        select s.external_id, s.email_key
          from (select distinct i.external_id from items i) i
         cross join lateral (
               select c.external_id, c.email_normalized as email_key from salesos.collaborators c
                where c.external_id = i.external_id and c.tenant_id = p_tenant_id and c.environment = p_environment
               offset 0
         ) s
      ),
      contested as (
        select i.external_id
          from items i left join stored s on s.external_id = i.external_id
         group by i.external_id
        having count(distinct i.email_key) > 1 or bool_or(s.email_key <> i.email_key)
      ),
      involved as (
        select i.email_key from items i where i.external_id in (select external_id from contested)
        union
        select s.email_key from stored s where s.external_id in (select external_id from contested)
      )
      select (select coalesce(jsonb_object_agg(s.external_id, s.email_key), '{}'::jsonb)
                from stored s where s.email_key in (select email_key from involved)),
             (select coalesce(jsonb_object_agg(s.email_key, s.external_id), '{}'::jsonb)
                from stored s where s.email_key in (select email_key from involved)),
             (select coalesce(jsonb_agg(to_jsonb(i) order by i.ord), '[]'::jsonb)
                from items i where i.email_key in (select email_key from involved))
        into v_holder, v_id_of, v_walk;

      v_conflicts := '{}';
      for v_item in
        select w.ord, w.external_id, w.email_key
          from jsonb_to_recordset(v_walk) as w (ord integer, external_id text, email_key text)
         order by w.ord
      loop
        if coalesce(v_holder ->> v_item.external_id, v_item.email_key) <> v_item.email_key then
          v_conflicts := v_conflicts || v_item.ord;
        else
          v_holder := (v_holder - coalesce(v_id_of ->> v_item.email_key, ''))
                      || jsonb_build_object(v_item.external_id, v_item.email_key);
          v_id_of := v_id_of || jsonb_build_object(v_item.email_key, v_item.external_id);
        end if;
      end loop;

      with accepted as (
        select c.ord, c.external_id, c.name, btrim(c.email) as email, lower(btrim(c.email)) as email_key,
               c.phone, c.document, c.team, c.role, c.metadata
          from jsonb_to_recordset(p_collaborators)
               as c (ord integer, external_id text, name text, email text, phone text, document text,
                     team text, role text, metadata jsonb)
         where c.ord <> all (v_conflicts)
      ),
      -- Items apply in order: per email the newest item gives email, external_id and name, and each
      -- optional field comes from the newest item that gives it. Only emails that repeat in the
      -- batch need merging (window functions: one sort per field); the others go in as they are.
      repeated as (
        select a.email_key from accepted a group by a.email_key having count(*) > 1
      ),
      merged as (
        select a.email_key, a.email, a.external_id, a.name, a.phone, a.document, a.team, a.role, a.metadata
          from accepted a
         where a.email_key not in (select r.email_key from repeated r)
        union all
        (select distinct on (a.email_key)
                a.email_key, a.email, a.external_id, a.name,
                first_value(a.phone) over (partition by a.email_key order by a.phone is null, a.ord desc),
                first_value(a.document) over (partition by a.email_key order by a.document is null, a.ord desc),
                first_value(a.team) over (partition by a.email_key order by a.team is null, a.ord desc),
                first_value(a.role) over (partition by a.email_key order by a.role is null, a.ord desc),
                first_value(a.metadata) over (partition by a.email_key order by a.metadata is null, a.ord desc)
           from accepted a
          where a.email_key in (select r.email_key from repeated r)
          order by a.email_key, a.ord desc)
      ),
      upserted as (
        insert into salesos.collaborators as c (tenant_id, environment, external_id, name, email,
                                                phone, document, team, role, metadata)
        select p_tenant_id, p_environment, m.external_id, m.name, m.email,
               m.phone, m.document, m.team, m.role, m.metadata
          from merged m
         order by m.email_key
        on conflict (tenant_id, environment, email_normalized) do update
           set external_id = excluded.external_id,
               name = excluded.name,
               email = excluded.email,
               phone = coalesce(excluded.phone, c.phone),
               document = coalesce(excluded.document, c.document),
               team = coalesce(excluded.team, c.team),
               role = coalesce(excluded.role, c.role),
               metadata = coalesce(excluded.metadata, c.metadata),
               updated_at = now()
        returning (c.xmax = 0) as inserted
      )
      select (select count(*) from upserted u where u.inserted),
             (select count(*) from accepted),
             (select coalesce(jsonb_agg(jsonb_build_object('ord', o) order by o), '[]'::jsonb)
                from unnest(v_conflicts) as o)
        into v_created, v_accepted, v_conflict_ords;
      exit;
    exception when unique_violation then
      -- A concurrent batch took an external_id between our check and our write: look again.
      v_attempt := v_attempt + 1;
      if v_attempt >= 3 then
        raise;
      end if;
    end;
  end loop;

  insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, ip, latency_ms, item_counts)
  values (p_request_id, p_tenant_id, p_key_id, p_environment, 'sync_collaborators', 200, p_ip,
          p_elapsed_ms + (extract(epoch from clock_timestamp() - statement_timestamp()) * 1000)::integer,
          jsonb_build_object('total', p_total, 'created', v_created, 'existing', v_accepted - v_created,
                             'errors', p_total - v_accepted));

  return query select v_created, v_accepted - v_created, v_conflict_ords;
end;
$$;
comment on function salesos.sync_collaborators(uuid, text, uuid, uuid, inet, integer, integer, jsonb) is
  'Upserts a batch of valid collaborators by email in one statement, items applying in order; returns counts and the items whose external_id another collaborator held when they applied.';

-- Nothing here is for the API roles: functions are executable by PUBLIC when created.
revoke execute on all functions in schema salesos from public;
