-- The work of default-integration, one function call per request step:
--   find_api_key     -> the bcrypt hash to verify a presented key once per instance
--   find_signed_key  -> what a P2S-SIGN-V1 request is checked against (status, scheme, encrypted k1)
--   admit_request    -> status, IP allowlist, scope and the hourly window, in one update
--   log_request      -> the log row of an admitted request that did not succeed
-- (sync_collaborators / sync_activities: 52_sync_functions.sql)

create function salesos.find_api_key(p_key_prefix text)
returns table (id uuid, key_hash text, auth_scheme text)
language sql
stable
set search_path = ''
as $$
  select k.id, k.key_hash, k.auth_scheme from salesos.api_keys k where k.key_prefix = p_key_prefix;
$$;
comment on function salesos.find_api_key(text) is 'Id, bcrypt hash and scheme of the key with this public prefix, for the one compare an instance does per key.';

create function salesos.find_signed_key(p_key_prefix text)
returns table (id uuid, tenant_id uuid, environment text, auth_scheme text, active boolean,
               signing_key bytea, signing_kek_id text, key_sha256 bytea)
language sql
stable
set search_path = ''
as $$
  select k.id, k.tenant_id, k.environment, k.auth_scheme,
         k.revoked_at is null and (k.expires_at is null or k.expires_at > now()),
         k.signing_key, k.signing_kek_id, k.key_sha256
    from salesos.api_keys k
   where k.key_prefix = p_key_prefix;
$$;
comment on function salesos.find_signed_key(text) is
  'The key with this public prefix as a P2S-SIGN-V1 request is checked against: whether it is active, its scheme, the SHA-256 of its full key string and its encrypted k1 (never the secret).';

create function salesos.admit_request(
  p_key_id uuid,
  p_ip inet,
  p_required_scope text,
  p_request_id uuid,   -- unused since refusals are counted, not logged; kept for the callers
  p_elapsed_ms integer, -- likewise
  p_signature text default null -- P2S-SIGN-V1: the request's signature (64 hex), accepted once
)
returns table (
  outcome text,
  tenant_id uuid,
  environment text,
  rate_limit integer,
  remaining integer,
  reset_seconds integer
)
language plpgsql
set search_path = ''
as $$
declare
  v_key record;
  v_outcome text;
begin
  -- A signature is accepted once, across every instance: the unique row is the proof. Checked
  -- before status, allowlist, scope and limit (contract 6.3); a replay is not counted.
  if p_signature is not null then
    insert into salesos.request_signatures (signature, key_id)
    values (pg_catalog.decode(p_signature, 'hex'), p_key_id)
    on conflict (signature) do nothing;
    if not found then
      return query select 'replayed'::text, null::uuid, null::text, null::integer, null::integer, null::integer;
      return;
    end if;
    -- Now and then, the signatures too old to be inside any window go (maintain_request_log too).
    if pg_catalog.random() < 0.01 then
      delete from salesos.request_signatures s where s.created_at < now() - interval '2 minutes';
    end if;
  end if;

  -- The common case in one statement. Under a concurrent update the where clause is re-checked
  -- against the latest row version, so the count stays exact.
  update salesos.api_keys k
     set window_started_at = case when k.window_started_at + interval '1 hour' > now()
                                  then k.window_started_at else now() end,
         window_request_count = case when k.window_started_at + interval '1 hour' > now()
                                     then k.window_request_count + 1 else 1 end,
         last_used_at = now(),
         last_used_ip = p_ip,
         request_count = k.request_count + 1
   where k.id = p_key_id
     and k.revoked_at is null
     and (k.expires_at is null or k.expires_at > now())
     and (coalesce(cardinality(k.ip_allowlist), 0) = 0 or p_ip <<= any (k.ip_allowlist))
     and (cardinality(k.scopes) = 0 or p_required_scope = any (k.scopes))
     and (k.window_started_at + interval '1 hour' <= now() or k.window_started_at is null
          or k.window_request_count < k.rate_limit_per_hour)
  returning k.tenant_id, k.environment, k.rate_limit_per_hour,
            k.window_started_at, k.window_request_count
    into v_key;

  if found then
    -- Made durable by the request's own log commit, which comes next (see the header).
    perform pg_catalog.set_config('synchronous_commit', 'off', true);
    v_outcome := 'admitted';
  else
    select k.tenant_id, k.environment, k.rate_limit_per_hour,
           case when k.window_started_at + interval '1 hour' > now() then k.window_started_at end
             as window_started_at,
           case when k.window_started_at + interval '1 hour' > now() then k.window_request_count else 0 end
             as window_request_count,
           case
             when coalesce(cardinality(k.ip_allowlist), 0) > 0
                  and (p_ip is null or not p_ip <<= any (k.ip_allowlist)) then 'ip_not_allowed'
             when cardinality(k.scopes) > 0 and not p_required_scope = any (k.scopes) then 'missing_scope'
             else 'rate_limited'
           end as refusal
      into v_key
      from salesos.api_keys k
     where k.id = p_key_id
       and k.revoked_at is null
       and (k.expires_at is null or k.expires_at > now());
    if not found then
      return query select 'invalid'::text, null::uuid, null::text, null::integer, null::integer, null::integer;
      return;
    end if;
    v_outcome := v_key.refusal;
    -- A refusal is counted, not logged: a flood of them updates a few counter rows, and without
    -- waiting for a disk flush (a crash may lose the last refusals' counts, never an admission's).
    perform pg_catalog.set_config('synchronous_commit', 'off', true);
    insert into salesos.request_counts as c (tenant_id, key_id, hour, status, shard, requests)
    values (v_key.tenant_id, p_key_id, pg_catalog.date_trunc('hour', now(), 'UTC'),
            case v_outcome when 'rate_limited' then 429 else 403 end, salesos.request_count_shard(), 1)
    on conflict on constraint request_counts_pkey do update set requests = c.requests + 1;
  end if;

  return query select
    v_outcome,
    v_key.tenant_id,
    v_key.environment,
    v_key.rate_limit_per_hour,
    greatest(v_key.rate_limit_per_hour - v_key.window_request_count, 0),
    case when v_key.window_started_at is null then 3600
         else greatest(ceil(extract(epoch from v_key.window_started_at + interval '1 hour' - now())), 1)::integer
    end;
end;
$$;
comment on function salesos.admit_request(uuid, inet, text, uuid, integer, text) is
  'Checks a verified key''s status, IP allowlist and scope and counts the request in its hourly window, in one update; counts refusals (403, 429) in request_counts, without a request_log row. With p_signature (P2S-SIGN-V1), first records it: outcome replayed when it was accepted before.';

create function salesos.log_request(
  p_request_id uuid,
  p_tenant_id uuid,
  p_key_id uuid,
  p_environment text,
  p_action text,
  p_status integer,
  p_ip inet,
  p_latency_ms integer,
  p_item_counts jsonb
)
returns void
language sql
set search_path = ''
as $$
  insert into salesos.request_log (request_id, tenant_id, key_id, environment, action, status, ip, latency_ms, item_counts)
  values (p_request_id, p_tenant_id, p_key_id, p_environment, p_action, p_status, p_ip, p_latency_ms, p_item_counts);
$$;
comment on function salesos.log_request(uuid, uuid, uuid, text, text, integer, inet, integer, jsonb) is
  'Records an admitted request that ended before its action ran: an invalid body, or a batch answered with its Idempotency-Key''s stored answer (claim_idempotency_key).';

create function salesos.inactive_key_reason(p_key_id uuid)
returns text
language sql
stable
set search_path = ''
as $$
  select coalesce(
    (select case when k.revoked_at is not null then 'revoked'
                 when k.expires_at is not null and k.expires_at <= now() then 'expired'
                 else 'active' end
       from salesos.api_keys k where k.id = p_key_id),
    'deleted');
$$;
comment on function salesos.inactive_key_reason(uuid) is
  'Why admit_request refused a proven key (revoked, expired, deleted): for the request''s log line only, asked only after that refusal.';
