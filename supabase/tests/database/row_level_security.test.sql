-- Database security, part 1: row-level security.
-- Every table of the private schema salesos has row-level security enabled, and no policy opens a
-- row to an API role: with RLS on and no policy, nobody but the tables' owner (the functions' own
-- connection) reads or writes a row, even if a privilege were granted by mistake.
-- Runs with pg_prove (tests/properties/database_privileges_and_rls_test.ts) and under `supabase test db`.
begin;
create extension if not exists pgtap;
select plan(4);

create temporary view salesos_tables as
  select c.relname::text as name, c.relkind, c.relrowsecurity
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where n.nspname = 'salesos';

select cmp_ok(
  (select count(*)::integer from salesos_tables where relkind in ('r', 'p')), '>=', 7,
  'salesos has its tables (so the checks below are not vacuous)'
);

select is_empty(
  $$ select name from salesos_tables where relkind in ('r', 'p') and not relrowsecurity $$,
  'every table in salesos has row-level security enabled'
);

select is_empty(
  $$ select tablename || '.' || policyname from pg_catalog.pg_policies
      where schemaname = 'salesos' and roles && array['public', 'anon', 'authenticated', 'service_role']::name[] $$,
  'no row-level security policy in salesos applies to public, anon, authenticated or service_role'
);

select is_empty(
  $$ select name from salesos_tables where relkind in ('v', 'm') $$,
  'salesos has no views or materialized views (they would read tables with their owner''s rights)'
);

select * from finish();
rollback;
