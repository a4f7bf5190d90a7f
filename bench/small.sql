-- pgbench baseline of one small request: the two statements the service issues for it, on a key
-- picked at random from {{key_ids}} (its tenant at the same place of {{tenant_ids}}).
-- (pgbench reads any colon followed by a word as a variable, even inside quotes: hence chr(58).)
\set n random(0, {{collaborators}} - 1)
\set k random(1, {{key_count}})
select outcome from salesos.admit_request(({{key_ids}}::uuid[])[:k], '127.0.0.1'::inet, 'default' || chr(58) || 'sync', gen_random_uuid(), 0);
select * from salesos.sync_activities(({{tenant_ids}}::uuid[])[:k], 'live', ({{key_ids}}::uuid[])[:k], gen_random_uuid(), '127.0.0.1'::inet, 0,
  jsonb_build_array(jsonb_build_array(0, '001', 'pgb-' || gen_random_uuid(), 'c' || :n || '@bench.test',
    jsonb_build_object('client', 'Acme Corp', 'duration_min', 12), null)));
