-- Where pg_cron is installed and preloaded (hosted Supabase), it runs the request-log maintenance
-- hourly in the database it serves (cron.database_name). Elsewhere (the local embedded database,
-- test databases) nothing is scheduled here: the local server runs the same SQL on a timer
-- (tools/maintenance.ts).
do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions e where e.name = 'pg_cron')
     and 'pg_cron' = any (pg_catalog.string_to_array(pg_catalog.replace(pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ','))
     and pg_catalog.current_database() = pg_catalog.current_setting('cron.database_name', true) then
    create extension if not exists pg_cron;
    -- By name: scheduling again replaces the job.
    execute $sql$select cron.schedule('salesos-maintain-request-log', '7 * * * *', 'select salesos.maintain_request_log()')$sql$;
  end if;
end
$$;
