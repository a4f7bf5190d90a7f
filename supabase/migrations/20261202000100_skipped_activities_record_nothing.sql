-- A skipped activity records nothing, within a batch as across batches.
--
-- Before, only the first item of each external_id in a batch counted: when its email matched no
-- collaborator it was skipped, and a later item of the same external_id whose email did match was
-- counted as a duplicate, so the activity was stored by neither. Now the items of an external_id
-- apply in order: those before the first one with a known collaborator are skipped, that one is
-- stored (unless the external_id is already stored: then all of them are duplicates), and those
-- after it are duplicates. This is the same rule as between batches, where a skipped activity is
-- processed once its collaborator exists.

create or replace function salesos.sync_activities(
  p_tenant_id uuid,
  p_environment text,
  p_key_id uuid,
  p_request_id uuid,
  p_ip inet,
  p_elapsed_ms integer,
  p_activities jsonb
)
returns table (processed integer, skipped integer, duplicates integer)
language plpgsql
set search_path = ''
as $$
declare
  v_total integer := jsonb_array_length(p_activities);
  v_processed integer;
  v_skipped integer;
begin
  if jsonb_typeof(p_activities -> 0) <> 'array' then
    raise exception 'p_activities must hold [ord, activity_code, external_id, collaborator_email, data, occurred_at] arrays'
      using errcode = '22023';
  end if;

  with items as (
    select a.ord, a.external_id, a.activity_code, lower(btrim(a.collaborator_email)) as email_key,
           a.data, coalesce(a.occurred_at, now()) as occurred_at
      from jsonb_array_elements(p_activities) as e (item)
     cross join lateral (
           select (e.item ->> 0)::integer as ord, e.item ->> 1 as activity_code, e.item ->> 2 as external_id,
                  e.item ->> 3 as collaborator_email, nullif(e.item -> 4, 'null') as data,
                  (e.item ->> 5)::timestamptz as occurred_at
     ) a
  ),
  -- One unique-index probe per item: a lateral subquery kept apart by "offset 0", so the planner
  -- cannot flatten it into a join that scans the tenant's collaborators when statistics lag
  -- behind a fast-growing table.
  matched as (
    select i.*, c.id as collaborator_id
      from items i
      left join lateral (
           select c.id from salesos.collaborators c
            where c.email_normalized = i.email_key and c.tenant_id = p_tenant_id and c.environment = p_environment
           offset 0
      ) c on true
  ),
  -- Per external_id, the first item with a known collaborator: the one that is stored.
  chosen as (
    select distinct on (m.external_id) m.*
      from matched m
     where m.collaborator_id is not null
     order by m.external_id, m.ord
  ),
  inserted as (
    -- Rows go in external_id order so concurrent overlapping batches wait on each other
    -- instead of deadlocking; on conflict makes replays store each activity once.
    insert into salesos.activities (tenant_id, environment, external_id, activity_code, collaborator_id,
                                    data, occurred_at, request_id)
    select p_tenant_id, p_environment, ch.external_id, ch.activity_code, ch.collaborator_id,
           ch.data, ch.occurred_at, p_request_id
      from chosen ch
     order by ch.external_id
    on conflict (tenant_id, environment, external_id) do nothing
    returning external_id
  )
  -- Skipped: no known collaborator, and its external_id not stored already. When a later item of
  -- the same external_id was chosen, its insert tells (it also sees a concurrent batch's row, which
  -- this statement's snapshot does not); otherwise the stored rows do.
  select (select count(*) from inserted),
         (select count(*) from matched m
            left join chosen ch on ch.external_id = m.external_id
           where m.collaborator_id is null
             and case when ch.ord is null
                      then not exists (select 1 from salesos.activities a
                                        where a.tenant_id = p_tenant_id and a.environment = p_environment
                                          and a.external_id = m.external_id)
                      else ch.ord > m.ord and exists (select 1 from inserted i where i.external_id = m.external_id)
                 end)
    into v_processed, v_skipped;

  insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, ip, latency_ms, item_counts)
  values (p_request_id, p_tenant_id, p_key_id, p_environment, 'sync_activities', 200, p_ip,
          p_elapsed_ms + (extract(epoch from clock_timestamp() - statement_timestamp()) * 1000)::integer,
          jsonb_build_object('total', v_total, 'processed', v_processed, 'skipped', v_skipped,
                             'duplicates', v_total - v_processed - v_skipped));

  return query select v_processed, v_skipped, v_total - v_processed - v_skipped;
end;
$$;
comment on function salesos.sync_activities(uuid, text, uuid, uuid, inet, integer, jsonb) is
  'Stores a validated batch of activities, given as [ord, activity_code, external_id, collaborator_email, data, occurred_at] arrays, in one statement: per external_id the first item with a known collaborator, each once; the items before it are skipped, those after it duplicates.';

revoke execute on all functions in schema salesos from public;
