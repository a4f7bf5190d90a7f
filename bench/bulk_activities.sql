-- pgbench baseline of a 1000-activity batch: the same rows by one set-based insert.
insert into salesos.activities (tenant_id, environment, external_id, activity_code, collaborator_id, data, occurred_at, request_id)
select {{tenant_id}}::uuid, 'live', 'pgb-' || gen_random_uuid(), lpad((i % 999 + 1)::text, 3, '0'), c.id,
       jsonb_build_object('client', 'Acme Corp ' || (i % 97), 'duration_min', i % 60, 'channel', 'phone',
                          'notes', 'Follow-up call about the renewal of the annual plan', 'value', i * 13 + 0.5),
       make_timestamptz(2026, 3, 17, 12, 15, 0, 'UTC'), gen_random_uuid()
  from generate_series(1, 1000) i
  join salesos.collaborators c
    on c.tenant_id = {{tenant_id}}::uuid and c.environment = 'live' and c.email_normalized = 'c' || (i % 1000) || '@bench.test';
