-- The request log at scale, and ids that tell nothing across tenants:
--   * request_log is partitioned by UTC day (plus a default partition); maintain_request_log
--     creates the coming days and drops expired ones (default retention 90 days). The last 90 days
--     of the old table are copied over, the rest is dropped with it.
--   * request_counts: requests per key, UTC hour and status, counted with each log row (trigger)
--     and, for refusals (403, 429), by admit_request instead of a log row; usage reads them.
--     Backfilled from the old log (the last 400 days).
--   * delete_api_key no longer rewrites the key's log rows.
--   * request_log ids are random, audit_log ids count per tenant.
--   * every primary key includes tenant_id.

-- Primary keys that include the tenant (the id leads: rows are still found by id alone).
alter table salesos.activities drop constraint activities_collaborator_id_fkey;
alter table salesos.activities drop constraint activities_pkey, add primary key (id, tenant_id);
alter table salesos.collaborators drop constraint collaborators_pkey, add primary key (id, tenant_id);
alter table salesos.activities
  add foreign key (collaborator_id, tenant_id) references salesos.collaborators (id, tenant_id) on delete cascade;
alter table salesos.api_keys drop constraint api_keys_pkey, add primary key (id, tenant_id);

-- Audit ids per tenant; the ids given so far stay, each tenant continues from its highest.
alter table salesos.audit_log alter column id drop identity;
alter table salesos.audit_log drop constraint audit_log_pkey, add primary key (tenant_id, id);

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

insert into salesos.audit_log_ids (tenant_id, last_id)
select a.tenant_id, max(a.id) from salesos.audit_log a group by a.tenant_id;
alter table salesos.audit_log_ids enable row level security;

-- The request log, partitioned.
alter table salesos.request_log rename to request_log_legacy;
alter index salesos.request_log_pkey rename to request_log_legacy_pkey;
alter index salesos.request_log_key_created_idx rename to request_log_legacy_key_created_idx;
alter index salesos.request_log_tenant_created_idx rename to request_log_legacy_tenant_created_idx;
alter table salesos.request_log_legacy rename constraint request_log_environment_check to request_log_legacy_environment_check;
alter table salesos.request_log_legacy rename constraint request_log_latency_ms_check to request_log_legacy_latency_ms_check;
alter table salesos.request_log_legacy rename constraint request_log_status_check to request_log_legacy_status_check;
alter table salesos.request_log_legacy rename constraint request_log_tenant_id_fkey to request_log_legacy_tenant_id_fkey;

create table salesos.request_log (
  -- Random, not from a sequence: it orders rows of the same microsecond in a page cursor and tells
  -- nothing about how many requests other tenants make.
  id bigint not null default (pg_catalog.random() * 1e15)::bigint,
  request_id uuid not null,
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  -- No foreign key: its lock on the hot key row cost a third of the throughput. Left as it is when
  -- the key is deleted: readers only read the log of a key that exists.
  key_id uuid,
  environment text not null check (environment in ('live', 'test')),
  action text,
  status smallint not null check (status between 100 and 599),
  ip inet,
  latency_ms integer not null check (latency_ms >= 0),
  item_counts jsonb,
  created_at timestamptz not null default now(),
  primary key (tenant_id, created_at, id)
) partition by range (created_at);
comment on table salesos.request_log is
  'One row per admitted request of an API key (refusals by IP, scope or rate limit are only counted, in request_counts). One partition per UTC day, dropped after the retention period by maintain_request_log; rows outside every day partition go to request_log_default.';
create index request_log_key_created_idx on salesos.request_log (key_id, created_at desc, id desc);
comment on column salesos.request_log.key_id is
  'The key that made the request; kept when the key is deleted (its rows are then unreachable: the API reads the log of existing keys only). No foreign key: its lock on the hot key row cost a third of the throughput.';

create table salesos.request_log_default partition of salesos.request_log default;
comment on table salesos.request_log_default is
  'Request log rows outside every day partition (so an insert never fails); maintain_request_log moves a day''s rows out when it creates that day, and deletes the expired ones.';

create table salesos.request_counts (
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  key_id uuid not null,
  hour timestamptz not null check (hour = pg_catalog.date_trunc('hour', hour, 'UTC')),
  status smallint not null check (status between 100 and 599),
  -- Concurrent requests of one key count on different rows (by server process), so none waits for
  -- another's commit; maintain_request_log folds the shards of past hours into shard 0.
  shard smallint not null default 0 check (shard between 0 and 15),
  requests bigint not null check (requests >= 0),
  primary key (tenant_id, key_id, hour, status, shard)
);
comment on table salesos.request_counts is
  'Requests per key, UTC hour and status: admitted ones counted with their request_log row (same statement), refused ones (403, 429) by admit_request instead of a log row. Usage reads these. Kept after the key is deleted until they expire (maintain_request_log, default 400 days).';

create function salesos.request_count_shard()
returns smallint
language sql
stable
set search_path = ''
as $$
  select (pg_catalog.pg_backend_pid() % 8)::smallint;
$$;
comment on function salesos.request_count_shard() is
  'The request_counts shard this connection adds to: concurrent connections mostly hit different rows.';

create function salesos.count_logged_request()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into salesos.request_counts as c (tenant_id, key_id, hour, status, shard, requests)
  select n.tenant_id, n.key_id, pg_catalog.date_trunc('hour', n.created_at, 'UTC'), n.status,
         salesos.request_count_shard(), count(*)
    from logged n
   where n.key_id is not null
   group by 1, 2, 3, 4
  on conflict (tenant_id, key_id, hour, status, shard) do update set requests = c.requests + excluded.requests;
  return null;
end;
$$;
comment on function salesos.count_logged_request() is
  'Trigger: counts the rows an insert adds to request_log in request_counts, in the statement that logs them.';

create function salesos.create_request_log_partition(p_day date)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_name text := 'request_log_p' || pg_catalog.to_char(p_day, 'YYYYMMDD');
  v_from timestamptz := p_day::timestamp at time zone 'UTC';
  v_to timestamptz := (p_day + 1)::timestamp at time zone 'UTC';
begin
  if pg_catalog.to_regclass('salesos.' || v_name) is not null then
    return null;
  end if;
  if exists (select 1 from salesos.request_log_default d where d.created_at >= v_from and d.created_at < v_to) then
    -- The day's rows that went to the default partition move into the new one (its own insert
    -- trigger is not involved: they were counted when they were logged).
    execute pg_catalog.format('create table salesos.%I (like salesos.request_log including defaults including constraints)', v_name);
    execute pg_catalog.format(
      'with moved as (delete from salesos.request_log_default d where d.created_at >= $1 and d.created_at < $2 returning d.*)
       insert into salesos.%I select * from moved', v_name) using v_from, v_to;
    execute pg_catalog.format('alter table salesos.request_log attach partition salesos.%I for values from (%L) to (%L)',
                              v_name, v_from, v_to);
  else
    execute pg_catalog.format('create table salesos.%I partition of salesos.request_log for values from (%L) to (%L)',
                              v_name, v_from, v_to);
  end if;
  execute pg_catalog.format('alter table salesos.%I enable row level security', v_name);
  execute pg_catalog.format('revoke all on salesos.%I from public, anon, authenticated', v_name);
  execute pg_catalog.format('comment on table salesos.%I is %L', v_name,
                            'Request log rows of ' || p_day || ' (UTC); dropped by maintain_request_log when they expire.');
  return v_name;
end;
$$;
comment on function salesos.create_request_log_partition(date) is
  'Creates the request_log partition of one UTC day (moving that day''s rows out of the default partition); null when it exists.';

create function salesos.maintain_request_log(
  p_retention_days integer default 90,
  p_days_ahead integer default 3,
  p_counts_retention_days integer default 400
)
returns setof text
language plpgsql
set search_path = ''
as $$
declare
  v_today date := (now() at time zone 'UTC')::date;
  v_cutoff date := (now() at time zone 'UTC')::date - p_retention_days;
  v_part record;
  v_created text;
  v_count bigint;
  v_lock_timeout text;
begin
  if p_retention_days < 1 or p_days_ahead < 0 or p_counts_retention_days < 1 then
    raise exception 'retention must be at least a day and days ahead not negative' using errcode = '22023';
  end if;
  -- One maintenance at a time (pg_cron and a local timer may overlap).
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('salesos.maintain_request_log'));
  -- Creating and dropping a partition lock the whole log for a moment: rather give up (and try
  -- again at the next run) than queue every request behind a long reader.
  v_lock_timeout := pg_catalog.current_setting('lock_timeout');
  if v_lock_timeout = '0' then
    perform pg_catalog.set_config('lock_timeout', '5s', true);
  end if;

  for v_day in 0 .. p_days_ahead loop
    v_created := salesos.create_request_log_partition(v_today + v_day);
    if v_created is not null then
      return next 'created ' || v_created;
    end if;
  end loop;

  -- Whole days older than the retention go at once: the partition is dropped, never emptied row by row.
  for v_part in
    select c.relname
      from pg_catalog.pg_inherits i
      join pg_catalog.pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'salesos.request_log'::regclass
       and c.relname ~ '^request_log_p[0-9]{8}$'
       and pg_catalog.to_date(substr(c.relname, 14), 'YYYYMMDD') < v_cutoff
     order by c.relname
  loop
    execute pg_catalog.format('drop table salesos.%I', v_part.relname);
    return next 'dropped ' || v_part.relname;
  end loop;

  -- Stray rows of the default partition (days without a partition of their own) expire alike.
  delete from salesos.request_log_default d where d.created_at < v_cutoff::timestamp at time zone 'UTC';
  get diagnostics v_count = row_count;
  if v_count > 0 then
    return next 'deleted ' || v_count || ' expired rows of request_log_default';
  end if;

  delete from salesos.request_counts c
   where c.hour < (v_today - p_counts_retention_days)::timestamp at time zone 'UTC';
  get diagnostics v_count = row_count;
  if v_count > 0 then
    return next 'deleted ' || v_count || ' expired request_counts rows';
  end if;

  -- The shards of hours that are over are summed into shard 0.
  with folded as (
    delete from salesos.request_counts c
     where c.shard <> 0 and c.hour < pg_catalog.date_trunc('hour', now(), 'UTC') - interval '1 hour'
    returning c.tenant_id, c.key_id, c.hour, c.status, c.requests
  )
  insert into salesos.request_counts as c (tenant_id, key_id, hour, status, shard, requests)
  select f.tenant_id, f.key_id, f.hour, f.status, 0, sum(f.requests)
    from folded f
   group by f.tenant_id, f.key_id, f.hour, f.status
  on conflict (tenant_id, key_id, hour, status, shard) do update set requests = c.requests + excluded.requests;
  get diagnostics v_count = row_count;
  if v_count > 0 then
    return next 'folded ' || v_count || ' request_counts rows into shard 0';
  end if;
  perform pg_catalog.set_config('lock_timeout', v_lock_timeout, true);
end;
$$;
comment on function salesos.maintain_request_log(integer, integer, integer) is
  'Creates the request_log partitions of today and the next p_days_ahead UTC days, drops the day partitions older than p_retention_days (default 90), deletes expired rows of the default partition and request_counts older than p_counts_retention_days (default 400), and folds past hours'' count shards. Returns what it did. Run hourly (pg_cron, or the local server''s timer).';

alter table salesos.request_log enable row level security;
alter table salesos.request_log_default enable row level security;
alter table salesos.request_counts enable row level security;

alter table salesos.request_log enable row level security;
alter table salesos.request_log_default enable row level security;
alter table salesos.request_counts enable row level security;

-- A partition for every day of the kept old rows, and for today and the next days.
select salesos.create_request_log_partition(d::date)
  from pg_catalog.generate_series(
         (select min(l.created_at at time zone 'UTC')::date from salesos.request_log_legacy l
           where l.created_at >= ((now() at time zone 'UTC')::date - 90)::timestamp at time zone 'UTC'),
         (now() at time zone 'UTC')::date - 1, interval '1 day') as g (d);
select salesos.maintain_request_log();

insert into salesos.request_log (id, request_id, tenant_id, key_id, environment, action, status, ip, latency_ms,
                                 item_counts, created_at)
select l.id, l.request_id, l.tenant_id, l.key_id, l.environment, l.action, l.status, l.ip, l.latency_ms,
       l.item_counts, l.created_at
  from salesos.request_log_legacy l
 where l.created_at >= ((now() at time zone 'UTC')::date - 90)::timestamp at time zone 'UTC';

insert into salesos.request_counts (tenant_id, key_id, hour, status, shard, requests)
select l.tenant_id, l.key_id, pg_catalog.date_trunc('hour', l.created_at, 'UTC'), l.status, 0, count(*)
  from salesos.request_log_legacy l
 where l.key_id is not null
   and l.created_at >= ((now() at time zone 'UTC')::date - 400)::timestamp at time zone 'UTC'
 group by 1, 2, 3, 4;

create trigger request_log_counted after insert on salesos.request_log
  referencing new table as logged
  for each statement execute function salesos.count_logged_request();

drop table salesos.request_log_legacy;

-- Functions that change.
create or replace function salesos.admit_request(
  p_key_id uuid,
  p_ip inet,
  p_required_scope text,
  p_request_id uuid,   -- unused since refusals are counted, not logged; kept for the callers
  p_elapsed_ms integer -- likewise
)
returns table (
  outcome text,
  tenant_id uuid,
  environment text,
  rate_limit integer,
  remaining integer,
  reset_seconds integer
)
language plpgsql
set search_path = ''
as $$
declare
  v_key record;
  v_outcome text;
begin
  -- The common case in one statement. Under a concurrent update the where clause is re-checked
  -- against the latest row version, so the count stays exact.
  update salesos.api_keys k
     set window_started_at = case when k.window_started_at + interval '1 hour' > now()
                                  then k.window_started_at else now() end,
         window_request_count = case when k.window_started_at + interval '1 hour' > now()
                                     then k.window_request_count + 1 else 1 end,
         last_used_at = now(),
         last_used_ip = p_ip,
         request_count = k.request_count + 1
   where k.id = p_key_id
     and k.revoked_at is null
     and (k.expires_at is null or k.expires_at > now())
     and (coalesce(cardinality(k.ip_allowlist), 0) = 0 or p_ip <<= any (k.ip_allowlist))
     and (cardinality(k.scopes) = 0 or p_required_scope = any (k.scopes))
     and (k.window_started_at + interval '1 hour' <= now() or k.window_started_at is null
          or k.window_request_count < k.rate_limit_per_hour)
  returning k.tenant_id, k.environment, k.rate_limit_per_hour,
            k.window_started_at, k.window_request_count
    into v_key;

  if found then
    -- Made durable by the request's own log commit, which comes next (see the header).
    perform pg_catalog.set_config('synchronous_commit', 'off', true);
    v_outcome := 'admitted';
  else
    select k.tenant_id, k.environment, k.rate_limit_per_hour,
           case when k.window_started_at + interval '1 hour' > now() then k.window_started_at end
             as window_started_at,
           case when k.window_started_at + interval '1 hour' > now() then k.window_request_count else 0 end
             as window_request_count,
           case
             when coalesce(cardinality(k.ip_allowlist), 0) > 0
                  and (p_ip is null or not p_ip <<= any (k.ip_allowlist)) then 'ip_not_allowed'
             when cardinality(k.scopes) > 0 and not p_required_scope = any (k.scopes) then 'missing_scope'
             else 'rate_limited'
           end as refusal
      into v_key
      from salesos.api_keys k
     where k.id = p_key_id
       and k.revoked_at is null
       and (k.expires_at is null or k.expires_at > now());
    if not found then
      return query select 'invalid'::text, null::uuid, null::text, null::integer, null::integer, null::integer;
      return;
    end if;
    v_outcome := v_key.refusal;
    -- A refusal is counted, not logged: a flood of them updates a few counter rows, and without
    -- waiting for a disk flush (a crash may lose the last refusals' counts, never an admission's).
    perform pg_catalog.set_config('synchronous_commit', 'off', true);
    insert into salesos.request_counts as c (tenant_id, key_id, hour, status, shard, requests)
    values (v_key.tenant_id, p_key_id, pg_catalog.date_trunc('hour', now(), 'UTC'),
            case v_outcome when 'rate_limited' then 429 else 403 end, salesos.request_count_shard(), 1)
    on conflict on constraint request_counts_pkey do update set requests = c.requests + 1;
  end if;

  return query select
    v_outcome,
    v_key.tenant_id,
    v_key.environment,
    v_key.rate_limit_per_hour,
    greatest(v_key.rate_limit_per_hour - v_key.window_request_count, 0),
    case when v_key.window_started_at is null then 3600
         else greatest(ceil(extract(epoch from v_key.window_started_at + interval '1 hour' - now())), 1)::integer
    end;
end;
$$;
comment on function salesos.admit_request(uuid, inet, text, uuid, integer) is
  'Checks a verified key''s status, IP allowlist and scope and counts the request in its hourly window, in one update; counts refusals (403, 429) in request_counts, without a request_log row.';

create or replace function salesos.delete_api_key(
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

create or replace function salesos.api_key_usage(
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
                                  '4xx', coalesce(sum(c.s4xx), 0), '5xx', coalesce(sum(c.s5xx), 0)),
      'buckets', coalesce(json_agg(json_build_object(
                   'start', salesos.iso_utc(s.start at time zone 'UTC'),
                   'total', coalesce(c.total, 0),
                   '2xx', coalesce(c.s2xx, 0),
                   '4xx', coalesce(c.s4xx, 0),
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
  'Request counts of a tenant''s key in [p_from, p_to) per UTC hour or day bucket (every bucket, zeros included) by status class, with last use; null when the tenant has no such key. Read from request_counts (admitted and refused requests, per whole UTC hour: an hour the range only partly covers counts whole), never from the log.';

comment on function salesos.api_key_requests(uuid, uuid, integer, timestamptz, bigint) is
  'A page of a tenant''s key''s request log (admitted requests only; refusals are only counted), newest first, after a (created_at, id) cursor; null when the tenant has no such key.';

revoke all on all tables in schema salesos from public, anon, authenticated;
revoke all on all sequences in schema salesos from public, anon, authenticated;
revoke execute on all functions in schema salesos from public;
