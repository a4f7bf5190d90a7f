-- The request log and the request counts.
--   request_log     -> one row per admitted request, partitioned by UTC day; old days are dropped
--   request_counts  -> requests per key, UTC hour and status, admitted or refused: what usage reads
--   maintain_request_log -> creates the coming days' partitions, drops the expired ones
-- Refusals after the key is known (403 IP or scope, 429 rate limit) are only counted, never logged
-- row by row: a flood of them writes one counter row per key, hour, status and shard.

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

create trigger request_log_counted after insert on salesos.request_log
  referencing new table as logged
  for each statement execute function salesos.count_logged_request();

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

  delete from salesos.request_signatures s where s.created_at < now() - interval '2 minutes';

  delete from salesos.idempotency_keys i where i.created_at < now() - interval '24 hours';
  get diagnostics v_count = row_count;
  if v_count > 0 then
    return next 'deleted ' || v_count || ' expired idempotency_keys rows';
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
  'Creates the request_log partitions of today and the next p_days_ahead UTC days, drops the day partitions older than p_retention_days (default 90), deletes expired rows of the default partition and request_counts older than p_counts_retention_days (default 400), P2S-SIGN-V1 signatures older than 2 minutes and Idempotency-Key answers older than 24 hours, and folds past hours'' count shards. Returns what it did. Run hourly (pg_cron, or the local server''s timer).';

alter table salesos.request_log enable row level security;
alter table salesos.request_log_default enable row level security;
alter table salesos.request_counts enable row level security;

-- The partitions of the coming days; later ones come from maintain_request_log.
select salesos.maintain_request_log();
