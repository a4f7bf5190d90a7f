-- GET /api-keys/:id/usage also counts 429 (rate limit and concurrency refusals) apart, within 4xx,
-- so a chart can tell throttling from client errors.
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
