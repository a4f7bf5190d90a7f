-- The sync actions of default-integration: one set-based statement per batch, plus its log row.
-- Batches arrive as positional arrays, not objects: Postgres parses them far faster.
-- With an Idempotency-Key, the same call first claims the key (claim_idempotency_key) and, when it
-- applies the batch, stores its answer: one transaction, no extra round trip.
-- A signed request arrives whole before it is admitted, so its admission and its batch go in one
-- call too (admit_and_sync), as two transactions.

create function salesos.claim_idempotency_key(
  p_tenant_id uuid,
  p_environment text,
  p_key_id uuid,
  p_request_id uuid,
  p_ip inet,
  p_elapsed_ms integer,
  p_idempotency_key text,
  p_action text,
  p_request_hash bytea
)
returns table (outcome text, response json)
language plpgsql
set search_path = ''
as $$
declare
  v_stored record;
begin
  -- Held until the calling transaction ends: a concurrent request with the same key (on any
  -- instance) finds it taken and is told so at once, instead of applying the batch a second time.
  -- Its answer row is written in that same transaction, so whoever gets the lock next sees it.
  if not pg_catalog.pg_try_advisory_xact_lock(
    pg_catalog.hashtextextended(p_key_id::text || ' ' || p_idempotency_key, 0)
  ) then
    return query select 'in_flight'::text, null::json;
    return;
  end if;
  select i.action, i.request_hash, i.response into v_stored
    from salesos.idempotency_keys i
   where i.tenant_id = p_tenant_id and i.key_id = p_key_id and i.idempotency_key = p_idempotency_key
     and i.created_at > now() - interval '24 hours';
  if not found then
    return query select 'apply'::text, null::json;
  elsif v_stored.action = p_action and v_stored.request_hash = p_request_hash then
    -- A replay is a request of its own in the log, answered here: the caller only returns it.
    perform salesos.log_request(
      p_request_id, p_tenant_id, p_key_id, p_environment, p_action, 200, p_ip,
      p_elapsed_ms + (extract(epoch from clock_timestamp() - statement_timestamp()) * 1000)::integer,
      '{"replayed": 1}'::jsonb);
    return query select 'replayed'::text, v_stored.response;
  else
    return query select 'mismatch'::text, null::json;
  end if;
end;
$$;
comment on function salesos.claim_idempotency_key(uuid, text, uuid, uuid, inet, integer, text, text, bytea) is
  'Claims an Idempotency-Key of an API key for the calling transaction: apply (new, or its answer expired), replayed (same action and body hash: the stored answer, the request logged with item_counts {"replayed": 1}), mismatch (another body), or in_flight (a concurrent transaction holds it).';

create function salesos.store_idempotent_response(
  p_tenant_id uuid,
  p_key_id uuid,
  p_idempotency_key text,
  p_action text,
  p_request_hash bytea,
  p_response json
)
returns void
language sql
set search_path = ''
as $$
  -- A row still there has expired (claim_idempotency_key said apply): it is replaced.
  insert into salesos.idempotency_keys (tenant_id, key_id, idempotency_key, action, request_hash, response)
  values (p_tenant_id, p_key_id, p_idempotency_key, p_action, p_request_hash, p_response)
  on conflict (tenant_id, key_id, idempotency_key) do update
     set action = excluded.action, request_hash = excluded.request_hash, response = excluded.response,
         created_at = excluded.created_at;
$$;
comment on function salesos.store_idempotent_response(uuid, uuid, text, text, bytea, json) is
  'Stores the answer of a batch applied under an Idempotency-Key, in the transaction that applied it.';

create function salesos.sync_activities(
  p_tenant_id uuid,
  p_environment text,
  p_key_id uuid,
  p_request_id uuid,
  p_ip inet,
  p_elapsed_ms integer,
  p_activities jsonb,
  p_idempotency_key text default null,
  p_request_hash bytea default null
)
returns table (outcome text, data json)
language plpgsql
set search_path = ''
as $$
declare
  v_total integer := jsonb_array_length(p_activities);
  v_processed integer;
  v_skipped integer;
  v_claim record;
  v_data json;
begin
  if p_idempotency_key is not null then
    select * into v_claim
      from salesos.claim_idempotency_key(p_tenant_id, p_environment, p_key_id, p_request_id, p_ip, p_elapsed_ms,
                                         p_idempotency_key, 'sync_activities', p_request_hash);
    if v_claim.outcome <> 'apply' then
      return query select v_claim.outcome, v_claim.response;
      return;
    end if;
  end if;

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

  v_data := json_build_object('processed', v_processed, 'skipped', v_skipped,
                              'duplicates', v_total - v_processed - v_skipped, 'errors', '[]'::json, 'total', v_total);
  if p_idempotency_key is not null then
    perform salesos.store_idempotent_response(p_tenant_id, p_key_id, p_idempotency_key, 'sync_activities',
                                              p_request_hash, v_data);
  end if;
  return query select 'applied'::text, v_data;
end;
$$;
comment on function salesos.sync_activities(uuid, text, uuid, uuid, inet, integer, jsonb, text, bytea) is
  'Stores a validated batch of activities, given as [ord, activity_code, external_id, collaborator_email, data, occurred_at] arrays, in one statement: per external_id the first item with a known collaborator, each once; the items before it are skipped, those after it duplicates. Returns the answer''s data (outcome applied); with an Idempotency-Key, a stored answer (replayed) or mismatch / in_flight instead of applying.';

create function salesos.sync_collaborators(
  p_tenant_id uuid,
  p_environment text,
  p_key_id uuid,
  p_request_id uuid,
  p_ip inet,
  p_elapsed_ms integer,
  p_total integer,
  p_collaborators jsonb,
  -- The items refused before the call: their ords, and their messages as a json array (json, not
  -- jsonb, and never read as text: a message echoes what was sent, which may hold an escaped NUL).
  p_item_error_ords integer[] default '{}',
  p_item_error_messages json default '[]',
  p_idempotency_key text default null,
  p_request_hash bytea default null
)
returns table (outcome text, data json)
language plpgsql
set search_path = ''
as $$
declare
  v_claim record;
  v_data json;
  v_created integer;
  v_accepted integer;
  v_written integer;
  v_merged integer;
  v_walked boolean := false;
  v_conflicts integer[] := '{}';
  v_holder jsonb;   -- external_id -> email_key holding it, as the items apply
  v_id_of jsonb;    -- email_key -> its external_id, as the items apply
  v_walk jsonb;     -- the items that touch a contested external_id, in order
  v_item record;
  v_attempt integer := 0;
begin
  if jsonb_typeof(p_collaborators -> 0) <> 'array' then
    raise exception 'p_collaborators must hold [ord, external_id, name, email, phone, document, team, role, metadata] arrays'
      using errcode = '22023';
  end if;

  if p_idempotency_key is not null then
    select * into v_claim
      from salesos.claim_idempotency_key(p_tenant_id, p_environment, p_key_id, p_request_id, p_ip, p_elapsed_ms,
                                         p_idempotency_key, 'sync_collaborators', p_request_hash);
    if v_claim.outcome <> 'apply' then
      return query select v_claim.outcome, v_claim.response;
      return;
    end if;
  end if;

  -- First without the walk: when no email changes its external_id (or repeats with different
  -- ones) and every new email brings an external_id nobody holds, applying the items in order
  -- gives exactly the final state. An email whose stored external_id differs is then left alone
  -- (the "where" of the update) and a held external_id fails the unique check at the end of the
  -- statement: either way the statement is undone and the batch is walked.
  loop
    begin
      if v_walked then
        -- Items apply in order, so whether an item's external_id is held by another collaborator
        -- can depend on the items before it. Only contested external_ids (held by another email
        -- before the batch, or given to two emails in it) can conflict: walk, in memory and in
        -- order, just the items that touch them, starting from who held what before the batch.
        with items as (
          select (e.item ->> 0)::integer as ord, e.item ->> 1 as external_id, lower(btrim(e.item ->> 3)) as email_key
            from jsonb_array_elements(p_collaborators) as e (item)
        ),
        -- Who holds each external_id of the batch now: one unique-index probe per id (a lateral
        -- subquery kept apart by "offset 0", so the plan cannot become a scan of the tenant's
        -- collaborators when statistics lag behind). Ids outside the batch cannot conflict in it.
        stored as (
          select s.external_id, s.email_key
            from (select distinct i.external_id from items i) i
           cross join lateral (
                 select c.external_id, c.email_normalized as email_key from salesos.collaborators c
                  where c.external_id = i.external_id and c.tenant_id = p_tenant_id and c.environment = p_environment
                 offset 0
           ) s
        ),
        contested as (
          select i.external_id
            from items i left join stored s on s.external_id = i.external_id
           group by i.external_id
          having count(distinct i.email_key) > 1 or bool_or(s.email_key <> i.email_key)
        ),
        involved as (
          select i.email_key from items i where i.external_id in (select external_id from contested)
          union
          select s.email_key from stored s where s.external_id in (select external_id from contested)
        )
        select (select coalesce(jsonb_object_agg(s.external_id, s.email_key), '{}'::jsonb)
                  from stored s where s.email_key in (select email_key from involved)),
               (select coalesce(jsonb_object_agg(s.email_key, s.external_id), '{}'::jsonb)
                  from stored s where s.email_key in (select email_key from involved)),
               (select coalesce(jsonb_agg(to_jsonb(i) order by i.ord), '[]'::jsonb)
                  from items i where i.email_key in (select email_key from involved))
          into v_holder, v_id_of, v_walk;

        v_conflicts := '{}';
        for v_item in
          select w.ord, w.external_id, w.email_key
            from jsonb_to_recordset(v_walk) as w (ord integer, external_id text, email_key text)
           order by w.ord
        loop
          if coalesce(v_holder ->> v_item.external_id, v_item.email_key) <> v_item.email_key then
            v_conflicts := v_conflicts || v_item.ord;
          else
            v_holder := (v_holder - coalesce(v_id_of ->> v_item.email_key, ''))
                        || jsonb_build_object(v_item.external_id, v_item.email_key);
            v_id_of := v_id_of || jsonb_build_object(v_item.email_key, v_item.external_id);
          end if;
        end loop;
      end if;

      with accepted as (
        select c.ord, c.external_id, c.name, btrim(c.email) as email, lower(btrim(c.email)) collate "C" as email_key,
               c.phone, c.document, c.team, c.role, c.metadata
          from jsonb_array_elements(p_collaborators) as e (item)
         cross join lateral (
               select (e.item ->> 0)::integer as ord, e.item ->> 1 as external_id, e.item ->> 2 as name,
                      e.item ->> 3 as email, e.item ->> 4 as phone, e.item ->> 5 as document,
                      e.item ->> 6 as team, e.item ->> 7 as role, nullif(e.item -> 8, 'null') as metadata
         ) c
         where c.ord <> all (v_conflicts)
      ),
      -- email_key is only grouped and sorted here, never compared with a column: in bytes ("C"),
      -- which is cheaper than the database's collation and orders rows as consistently.
      -- Items apply in order: per email the newest item gives email, external_id and name, and each
      -- optional field comes from the newest item that gives it. Only emails that repeat in the
      -- batch need merging (window functions: one sort per field); the others go in as they are.
      repeated as (
        select a.email_key, count(distinct a.external_id) > 1 as moves
          from accepted a group by a.email_key having count(*) > 1
      ),
      merged as (
        select a.email_key, a.email, a.external_id, a.name, a.phone, a.document, a.team, a.role, a.metadata
          from accepted a
         where a.email_key not in (select r.email_key from repeated r)
        union all
        (select distinct on (a.email_key)
                a.email_key, a.email, a.external_id, a.name,
                first_value(a.phone) over (partition by a.email_key order by a.phone is null, a.ord desc),
                first_value(a.document) over (partition by a.email_key order by a.document is null, a.ord desc),
                first_value(a.team) over (partition by a.email_key order by a.team is null, a.ord desc),
                first_value(a.role) over (partition by a.email_key order by a.role is null, a.ord desc),
                first_value(a.metadata) over (partition by a.email_key order by a.metadata is null, a.ord desc)
           from accepted a
          where a.email_key in (select r.email_key from repeated r)
          order by a.email_key, a.ord desc)
      ),
      upserted as (
        insert into salesos.collaborators as c (tenant_id, environment, external_id, name, email,
                                                phone, document, team, role, metadata)
        select p_tenant_id, p_environment, m.external_id, m.name, m.email,
               m.phone, m.document, m.team, m.role, m.metadata
          from merged m
         where v_walked or not exists (select 1 from repeated r where r.moves)
         order by m.email_key
        on conflict (tenant_id, environment, email_normalized) do update
           set external_id = excluded.external_id,
               name = excluded.name,
               email = excluded.email,
               phone = coalesce(excluded.phone, c.phone),
               document = coalesce(excluded.document, c.document),
               team = coalesce(excluded.team, c.team),
               role = coalesce(excluded.role, c.role),
               metadata = coalesce(excluded.metadata, c.metadata),
               updated_at = now()
         where v_walked or c.external_id = excluded.external_id
        returning (c.xmax = 0) as inserted
      )
      select (select count(*) from upserted u where u.inserted), (select count(*) from upserted),
             (select count(*) from merged), (select count(*) from accepted)
        into v_created, v_written, v_merged, v_accepted;
      if v_written < v_merged then
        raise sqlstate 'SOS01';  -- an item changes an external_id: undo, and walk the batch
      end if;
      exit;
    exception
      when sqlstate 'SOS01' then
        v_walked := true;
      when unique_violation then
        -- Unwalked: an external_id is held. Walked: a concurrent batch took an external_id between
        -- our walk and our write, so walk again.
        if v_walked then
          v_attempt := v_attempt + 1;
          if v_attempt >= 3 then
            -- Nothing of the batch is written, and a later try can succeed: a transient
            -- concurrency abort (503 with Retry-After), not a server error.
            raise exception 'external_ids of this batch were taken by concurrent batches three times'
              using errcode = '40001';
          end if;
        end if;
        v_walked := true;
    end;
  end loop;

  insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, ip, latency_ms, item_counts)
  values (p_request_id, p_tenant_id, p_key_id, p_environment, 'sync_collaborators', 200, p_ip,
          p_elapsed_ms + (extract(epoch from clock_timestamp() - statement_timestamp()) * 1000)::integer,
          jsonb_build_object('total', p_total, 'created', v_created, 'existing', v_accepted - v_created,
                             'errors', p_total - v_accepted));

  -- The answer's errors, in item order: the items refused before the call, and those whose
  -- external_id another collaborator held when they applied (named as they were sent).
  v_data := json_build_object(
    'created', v_created,
    'existing', v_accepted - v_created,
    'errors', (select coalesce(json_agg(e.message order by e.ord), '[]'::json)
                 from (select p_item_error_ords[x.n] as ord, x.message
                         from json_array_elements(p_item_error_messages) with ordinality as x (message, n)
                       union all
                       select (c.item ->> 0)::integer,
                              pg_catalog.to_json('Collaborator ' || (c.item ->> 1) || ' (' || (c.item ->> 3) || '): '
                                                 || 'external_id is already used by another collaborator')
                         from jsonb_array_elements(p_collaborators) as c (item)
                        where (c.item ->> 0)::integer = any (v_conflicts)) e),
    'total', p_total);
  if p_idempotency_key is not null then
    perform salesos.store_idempotent_response(p_tenant_id, p_key_id, p_idempotency_key, 'sync_collaborators',
                                              p_request_hash, v_data);
  end if;
  return query select 'applied'::text, v_data;
end;
$$;
comment on function salesos.sync_collaborators(uuid, text, uuid, uuid, inet, integer, integer, jsonb, integer[], json, text, bytea) is
  'Upserts a batch of valid collaborators, given as [ord, external_id, name, email, phone, document, team, role, metadata] arrays, by email in one statement, items applying in order (the contested external_ids are walked first only when an id moves). Returns the answer''s data (outcome applied): counts, and as errors the items refused before the call (p_item_error_ords, p_item_error_messages) and those whose external_id another collaborator held when they applied; with an Idempotency-Key, a stored answer (replayed) or mismatch / in_flight instead of applying.';

-- A procedure, not a function: only a procedure may commit between its two transactions. So it
-- cannot carry a "set search_path" clause (PostgreSQL refuses COMMIT under one); each transaction
-- sets search_path to '' itself, transaction-local, before anything else.
create procedure salesos.admit_and_sync(
  p_key_id uuid,
  p_ip inet,
  p_required_scope text,
  p_request_id uuid,
  p_elapsed_ms integer,
  p_signature text,
  p_action text,
  p_items jsonb,
  p_total integer,
  p_item_error_ords integer[],
  p_item_error_messages json,
  p_idempotency_key text,
  p_request_hash bytea,
  inout admission text default null,
  inout tenant_id uuid default null,
  inout environment text default null,
  inout rate_limit integer default null,
  inout remaining integer default null,
  inout reset_seconds integer default null,
  inout outcome text default null,
  inout data json default null
)
language plpgsql
as $$
declare
  v_sqlstate text;
  v_message text;
begin
  perform pg_catalog.set_config('search_path', '', true);
  select a.outcome, a.tenant_id, a.environment, a.rate_limit, a.remaining, a.reset_seconds
    into admission, tenant_id, environment, rate_limit, remaining, reset_seconds
    from salesos.admit_request(p_key_id, p_ip, p_required_scope, p_request_id, p_elapsed_ms, p_signature) a;
  if admission <> 'admitted' then
    return;
  end if;
  -- The admission commits as its own call would (without waiting for a disk flush), releasing the
  -- key's row at once; the batch's transaction, which makes it durable, follows.
  commit;
  perform pg_catalog.set_config('search_path', '', true);
  begin
    if p_action = 'sync_activities' then
      select s.outcome, s.data into outcome, data
        from salesos.sync_activities(tenant_id, environment, p_key_id, p_request_id, p_ip, p_elapsed_ms, p_items,
                                     p_idempotency_key, p_request_hash) s;
    else
      select s.outcome, s.data into outcome, data
        from salesos.sync_collaborators(tenant_id, environment, p_key_id, p_request_id, p_ip, p_elapsed_ms,
                                        p_total, p_items, p_item_error_ords, p_item_error_messages,
                                        p_idempotency_key, p_request_hash) s;
    end if;
  exception when others then
    -- The admission stands: a failed batch is answered with it (its rate-limit headers, its log
    -- row), so its error is returned beside it rather than raised.
    get stacked diagnostics v_sqlstate = returned_sqlstate, v_message = message_text;
    outcome := 'failed';
    data := pg_catalog.json_build_object('sqlstate', v_sqlstate, 'message', v_message);
  end;
end;
$$;
comment on procedure salesos.admit_and_sync(uuid, inet, text, uuid, integer, text, text, jsonb, integer, integer[], json, text, bytea, text, uuid, text, integer, integer, integer, text, json) is
  'A signed (P2S-SIGN-V1) request whose signature and body are checked, in one call: admit_request (its signature recorded, its refusals counted) and, when admitted, after a commit, its batch (sync_activities or sync_collaborators, p_total and the item errors for collaborators only). Returns the admission''s fields and, when admitted, the action''s outcome and data, or outcome failed with the error''s sqlstate and message as data (the admission stays committed).';
