-- pgbench baseline of a 500-collaborator batch: the same rows by one set-based insert.
insert into salesos.collaborators (tenant_id, environment, external_id, name, email, phone, team, role, metadata)
select {{tenant_id}}::uuid, 'live', b.id || '-' || i, 'Seller ' || i, b.id || '-' || i || '@bench.test',
       '+55 11 9' || lpad(i::text, 4, '0') || '-0000', 'Team ' || (i % 12), 'SDR',
       jsonb_build_object('region', 'south', 'quota', i * 10)
  from generate_series(1, 500) i, (select 'pgb-' || gen_random_uuid() as id) b;
