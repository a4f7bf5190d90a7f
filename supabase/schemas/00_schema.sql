-- SalesOS Integration API, as it stands: the current definition of every object the migrations
-- in supabase/migrations produce, one concern per file, applied in file-name order to an empty
-- database. These files are read, the migrations are what runs: a change here ships as a new
-- migration (`deno task db:diff` prints one), and tests/database/schema_files_test.ts fails
-- while the two define different databases.
--
-- Everything lives in the private schema `salesos`, which the Data API does not expose. The edge
-- functions reach it through their own database connection; `anon` and `authenticated` get nothing.

-- Supabase creates these roles; a plain Postgres (local runs, tests) may not have them yet.
do $$
declare
  role_name text;
begin
  foreach role_name in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select 1 from pg_catalog.pg_roles where rolname = role_name) then
      begin
        execute pg_catalog.format('create role %I nologin', role_name);
      exception when duplicate_object or unique_violation then
        null; -- created concurrently by another database of the same cluster
      end;
    end if;
  end loop;
end
$$;

create schema salesos;
comment on schema salesos is 'SalesOS Integration API. Private: reached only by the edge functions'' own connection.';

revoke all on schema salesos from public;
-- Functions are executable by PUBLIC when created, and a schema's default privileges cannot take
-- that away (they only add to the global ones): nothing here is meant for the API roles, so
-- 90_privileges.sql revokes EXECUTE from PUBLIC on all of them, as every migration that creates
-- functions ends by doing. supabase/tests/database/privileges.test.sql checks that no API role can
-- execute any.
