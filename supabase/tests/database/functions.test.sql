-- Database security, part 3: the functions of salesos.
-- Every function pins its search_path (a procedure, which cannot when it commits, sets it first in
-- each of its transactions) and none runs with its owner's rights; the bcrypt hash of a
-- key leaves the database only through salesos.find_api_key, which no API role may execute; the
-- key objects, pages, audit entries and usage every other function returns never carry the hash;
-- and no table holds a plaintext key (only its public key_prefix).
-- Runs with pg_prove (tests/properties/database_privileges_and_rls_test.ts) and under `supabase test db`.
begin;
create extension if not exists pgtap;
select plan(15);

create temporary view salesos_functions as
  select p.oid, p.proname::text as name, p.oid::regprocedure::text as signature, p.prokind, p.proconfig, p.prosecdef,
         p.prorettype, p.proargnames, p.proargmodes, p.prosrc
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'salesos';

select is_empty(
  $$ select signature from salesos_functions f
      where f.prokind <> 'p' and not exists (select 1 from unnest(f.proconfig) c where c like 'search_path=%') $$,
  'every function in salesos pins search_path (proconfig has search_path=)'
);

-- What a procedure runs first, and again after each end of a transaction.
create temporary view procedure_search_path as
  select $re$perform\s+pg_catalog\.set_config\('search_path',\s*'',\s*true\);$re$::text as statement,
         $re$\m(commit|rollback)(\s+and\s+(no\s+)?chain)?\s*;$re$::text as transaction_end;

select is_empty(
  $$ select f.signature from salesos_functions f, procedure_search_path p
      where f.prokind = 'p'
        and (f.prosrc !~* ('^\s*(declare\M.*)?\mbegin\s+' || p.statement)
             or (select count(*) from pg_catalog.regexp_matches(f.prosrc, p.transaction_end, 'gi'))
                <> (select count(*) from pg_catalog.regexp_matches(f.prosrc, p.transaction_end || '\s*' || p.statement, 'gi'))) $$,
  'every procedure in salesos sets search_path to '''' first, and again after each commit or rollback'
);

select is_empty(
  $$ select signature from salesos_functions where prosecdef $$,
  'no function in salesos is SECURITY DEFINER'
);

select set_eq(
  $$ select f.name from salesos_functions f
      where exists (select 1 from unnest(f.proargnames, f.proargmodes) as a (name, mode)
                     where a.name = 'key_hash' and a.mode in ('o', 'b', 't')) $$,
  array['find_api_key'],
  'find_api_key is the only function with key_hash among its results'
);

select is_empty(
  $$ select signature from salesos_functions f
      where f.prorettype in ('salesos.api_keys'::regtype, 'record'::regtype)
        and not coalesce(f.proargmodes && array['o', 't', 'b']::"char"[], false) $$,
  'no function returns an api_keys row or an untyped record (either could carry the hash)'
);

select set_eq(
  $$ select name from salesos_functions where prosrc ~ 'key_hash' $$,
  array['create_api_key', 'find_api_key', 'rotate_api_key'],
  'only find_api_key reads key_hash; create_api_key and rotate_api_key only write it'
);

select is_empty(
  $$ select r from unnest(array['anon', 'authenticated', 'service_role']::name[]) as r
      where pg_catalog.has_function_privilege(r, 'salesos.find_api_key(text)', 'EXECUTE') $$,
  'no API role may execute find_api_key'
);

-- What every other function returns, for a key whose hash we know: never the hash.
create temporary table outputs (function_name text, output text);
do $$
declare
  v_tenant uuid := salesos.ensure_tenant('pgtap-hash-check');
  v_hash text := '$2a$04$pgtapPGTAPpgtapPGTAPpeQ1yD4W7u0ePqmVq0dQ1Yy3ZzWv8cV5e';
  v_key json;
  v_id uuid;
begin
  v_key := salesos.create_api_key(v_tenant, null, 'cli', '127.0.0.1', 'pgtap', 'live', 'sk_live_pgtap001',
                                  v_hash, array['default:sync'], 100, null, array['10.0.0.0/8']::cidr[], 100);
  v_id := (v_key ->> 'id')::uuid;
  insert into outputs values ('create_api_key', v_key::text);
  insert into outputs select 'get_api_key', salesos.get_api_key(v_tenant, v_id)::text;
  insert into outputs select 'list_api_keys', l::text from salesos.list_api_keys(v_tenant, null, null, 10, null, null) l;
  insert into outputs select 'api_key_page', salesos.api_key_page(v_tenant, null, null, 10, null, null)::text;
  insert into outputs select 'api_key_object', salesos.api_key_object(k)::text from salesos.api_keys k where k.id = v_id;
  insert into outputs select 'update_api_key', u::text from salesos.update_api_key(v_tenant, v_id, null, 'cli', null, '{"name": "renamed"}') u;
  insert into outputs select 'admit_request', a::text from salesos.admit_request(v_id, '10.1.2.3', 'default:sync', gen_random_uuid(), 1) a;
  insert into outputs select 'api_key_usage', salesos.api_key_usage(v_tenant, v_id, now() - interval '1 hour', now() + interval '1 hour', 'hour')::text;
  insert into outputs select 'api_key_requests', salesos.api_key_requests(v_tenant, v_id, 10, null, null)::text;
  insert into outputs select 'rotate_api_key', r::text
    from salesos.rotate_api_key(v_tenant, v_id, null, 'cli', null, 'sk_live_pgtap002', v_hash, 0, 100) r;
  insert into outputs select 'revoke_api_key', salesos.revoke_api_key(v_tenant, v_id, null, 'cli', null)::text;
  insert into outputs select 'audit_page', salesos.audit_page(v_tenant, null, null, 50, null, null)::text;
  insert into outputs select 'delete_api_key', salesos.delete_api_key(v_tenant, v_id, null, 'cli', null)::text;
end;
$$;

select cmp_ok((select count(distinct function_name)::integer from outputs), '=', 13, 'thirteen key functions were called');

select is_empty(
  $$ select function_name from outputs where output like '%$2a$04$pgtap%' or output like '%key_hash%' $$,
  'no function but find_api_key returns the hash (key objects, pages, usage, request log, audit log)'
);

select is_empty(
  $$ select function_name from outputs where output ~ '\$2[aby]\$' $$,
  'no output of those functions holds anything shaped like a bcrypt hash'
);

select is(
  (select key_hash from salesos.find_api_key('sk_live_pgtap002')),
  '$2a$04$pgtapPGTAPpgtapPGTAPpeQ1yD4W7u0ePqmVq0dQ1Yy3ZzWv8cV5e',
  'find_api_key does return the hash (to the service''s own connection), so the checks above can fail'
);

-- No plaintext key anywhere: every text-like column of every salesos table, in every row.
create function pg_temp.plaintext_key_places()
returns setof text
language plpgsql
as $$
declare
  v_column record;
  v_hits bigint;
begin
  for v_column in
    select c.relname, a.attname
      from pg_catalog.pg_attribute a
      join pg_catalog.pg_class c on c.oid = a.attrelid
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'salesos' and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
       and a.atttypid in ('text'::regtype, 'varchar'::regtype, 'jsonb'::regtype, 'json'::regtype, 'text[]'::regtype)
  loop
    execute pg_catalog.format('select count(*) from salesos.%I where %I::text ~ ''sk_(live|test)_[a-z0-9]{32}''',
                              v_column.relname, v_column.attname)
      into v_hits;
    if v_hits > 0 then
      return next v_column.relname || '.' || v_column.attname;
    end if;
  end loop;
end;
$$;

select is_empty(
  $$ select * from pg_temp.plaintext_key_places() $$,
  'no column of any salesos table holds a plaintext key (sk_live_/sk_test_ + 32 characters)'
);

-- The scan can fail: a key planted in a column is found.
savepoint planted;
update salesos.tenants set name = 'sk_live_' || repeat('a', 32) where slug = 'pgtap-hash-check';
select results_eq(
  $$ select * from pg_temp.plaintext_key_places() $$,
  array['tenants.name'],
  'the scan finds a plaintext key planted in tenants.name'
);
rollback to savepoint planted;

select is_empty(
  $$ select c.relname || '.' || a.attname
       from pg_catalog.pg_attribute a
       join pg_catalog.pg_class c on c.oid = a.attrelid
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'salesos' and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped
        and a.attname ~ '(^key$|plaintext|secret)' $$,
  'no column is meant to hold a key''s plaintext or secret'
);

select ok(
  not exists (select 1 from salesos.api_keys where key_hash !~ '^\$2[aby]\$\d\d\$'),
  'every stored key_hash is a bcrypt hash'
);

select * from finish();
rollback;
