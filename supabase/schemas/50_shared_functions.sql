-- Helpers the other functions share: the API's timestamp format, page cursors and the public key
-- object.

create function salesos.iso_utc(p_at timestamptz)
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
$$;
comment on function salesos.iso_utc(timestamptz) is 'ISO 8601 UTC with milliseconds, the API''s one timestamp format.';

create function salesos.page_cursor(p_at timestamptz, p_id text)
returns text
language sql
immutable
set search_path = ''
as $$
  select pg_catalog.to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || p_id;
$$;
comment on function salesos.page_cursor(timestamptz, text) is
  'The position of a row in a newest-first page: its time to the microsecond and its id (encoded by the API).';

create function salesos.api_key_object(p_key salesos.api_keys)
returns json
language sql
stable
set search_path = ''
as $$
  select json_build_object(
    'id', p_key.id,
    'name', p_key.name,
    'key_prefix', p_key.key_prefix,
    'environment', p_key.environment,
    'auth_scheme', p_key.auth_scheme,
    'scopes', to_jsonb(p_key.scopes),
    'rate_limit_per_hour', p_key.rate_limit_per_hour,
    'ip_allowlist', (select coalesce(jsonb_agg(case when pg_catalog.masklen(c) = case when pg_catalog.family(c) = 4 then 32 else 128 end
                                                    then pg_catalog.host(c) else c::text end order by n), '[]'::jsonb)
                       from unnest(p_key.ip_allowlist) with ordinality as a (c, n)),
    'expires_at', salesos.iso_utc(p_key.expires_at),
    'status', case when p_key.revoked_at is not null then 'revoked'
                   when p_key.expires_at is not null and p_key.expires_at <= now() then 'expired'
                   else 'active' end,
    'created_at', salesos.iso_utc(p_key.created_at),
    'created_by', p_key.created_by,
    'revoked_at', salesos.iso_utc(p_key.revoked_at),
    'last_used_at', salesos.iso_utc(p_key.last_used_at),
    'last_used_ip', pg_catalog.host(p_key.last_used_ip),
    'request_count', p_key.request_count
  );
$$;
comment on function salesos.api_key_object(salesos.api_keys) is 'The public key object: never the hash, never the plaintext.';
