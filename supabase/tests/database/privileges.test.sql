-- Database security, part 2: privileges.
-- The API roles (anon and authenticated, and service_role, which PostgREST also uses) hold no
-- privilege on the schema salesos, its tables, columns, sequences or functions, whether granted to
-- them or to PUBLIC; and trying anyway, as each role, is refused.
-- Runs with pg_prove (tests/properties/database_privileges_and_rls_test.ts) and under `supabase test db`.
begin;
create extension if not exists pgtap;
select plan(9);

create temporary table api_roles (role_name name primary key);
insert into api_roles values ('anon'), ('authenticated'), ('service_role');

create temporary view salesos_relations as
  select c.oid, c.relname::text as name, c.relkind
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where n.nspname = 'salesos' and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S');

create temporary view salesos_functions as
  select p.oid, p.proname::text as name, p.oid::regprocedure::text as signature, p.pronargs,
         coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner)) as acl
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
   where n.nspname = 'salesos';

select cmp_ok((select count(*)::integer from salesos_functions), '>=', 10,
  'salesos has its functions (so the checks below are not vacuous)');

select is_empty(
  $$ select r.role_name || ': ' || p.privilege from api_roles r, unnest(array['USAGE', 'CREATE']) as p (privilege)
      where pg_catalog.has_schema_privilege(r.role_name, 'salesos', p.privilege) $$,
  'no API role has USAGE or CREATE on the schema salesos'
);

select is_empty(
  $$ select r.role_name || ': ' || t.name from api_roles r, salesos_relations t
      where t.relkind <> 'S'
        and pg_catalog.has_table_privilege(r.role_name, t.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') $$,
  'no API role holds any privilege on a table of salesos'
);

select is_empty(
  $$ select r.role_name || ': ' || t.name from api_roles r, salesos_relations t
      where t.relkind <> 'S' and pg_catalog.has_any_column_privilege(r.role_name, t.oid, 'SELECT, INSERT, UPDATE, REFERENCES') $$,
  'no API role holds a privilege on any column of a table of salesos'
);

select is_empty(
  $$ select r.role_name || ': ' || t.name from api_roles r, salesos_relations t
      where t.relkind = 'S' and pg_catalog.has_sequence_privilege(r.role_name, t.oid, 'USAGE, SELECT, UPDATE') $$,
  'no API role holds any privilege on a sequence of salesos'
);

select is_empty(
  $$ select r.role_name || ': ' || f.signature from api_roles r, salesos_functions f
      where pg_catalog.has_function_privilege(r.role_name, f.oid, 'EXECUTE') $$,
  'no API role may execute a function of salesos (not even through PUBLIC)'
);

select is_empty(
  $$ select f.signature from salesos_functions f, pg_catalog.aclexplode(f.acl) a
      where a.grantee = 0 and a.privilege_type = 'EXECUTE' $$,
  'PUBLIC holds EXECUTE on no function of salesos (so a later grant of USAGE on the schema exposes none)'
);

-- Trying anyway: each statement, as each API role, must be refused with insufficient_privilege.
create function pg_temp.refused_as(p_role name, p_statement text) returns boolean
language plpgsql as $$
begin
  execute pg_catalog.format('set local role %I', p_role);
  begin
    execute p_statement;
  exception when insufficient_privilege then
    reset role;
    return true;
  end;
  reset role;
  return false;
end;
$$;

select is_empty(
  $$ select r.role_name || ': ' || t.name from api_roles r, salesos_relations t
      where t.relkind <> 'S'
        and not pg_temp.refused_as(r.role_name, pg_catalog.format('select 1 from salesos.%I limit 1', t.name)) $$,
  'reading any table of salesos as an API role is refused'
);

select is_empty(
  $$ select r.role_name || ': ' || f.signature from api_roles r, salesos_functions f
      where not pg_temp.refused_as(r.role_name, pg_catalog.format('select salesos.%I(%s)', f.name,
              (select coalesce(string_agg('null', ', '), '') from pg_catalog.generate_series(1, f.pronargs)))) $$,
  'calling any function of salesos as an API role is refused'
);

select * from finish();
rollback;
