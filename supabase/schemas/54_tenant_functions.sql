-- Tenants and their Dashboard members, for operators (`deno task tenants`, on a local or a hosted
-- project's database):
--   create_tenant        -> a tenant by slug and display name (idempotent)
--   find_auth_user       -> the Supabase Auth user id of an email (auth.users, where it exists)
--   set_tenant_member    -> add a member, or change its role
--   remove_tenant_member -> remove a member; a tenant's last owner stays
--   list_tenant_members  -> a tenant's members, owners first

create function salesos.create_tenant(p_slug text, p_name text)
returns table (id uuid, slug text, name text, created_at timestamptz, created boolean)
language plpgsql
set search_path = ''
as $$
begin
  return query
    insert into salesos.tenants as t (slug, name) values (p_slug, p_name)
    on conflict on constraint tenants_slug_key do nothing
    returning t.id, t.slug, t.name, t.created_at, true;
  if not found then
    return query select t.id, t.slug, t.name, t.created_at, false from salesos.tenants t where t.slug = p_slug;
  end if;
end;
$$;
comment on function salesos.create_tenant(text, text) is
  'Creates the tenant with this slug and display name; an existing slug is returned as it is (created false).';

create function salesos.find_auth_user(p_email text)
returns uuid
language plpgsql
stable
set search_path = ''
as $$
declare
  v_id uuid;
begin
  -- Hosted Supabase (and a local Supabase stack) keep their users in auth.users; a plain Postgres has no such table.
  if pg_catalog.to_regclass('auth.users') is null then
    return null;
  end if;
  execute 'select u.id from auth.users u where pg_catalog.lower(u.email) = pg_catalog.lower(pg_catalog.btrim($1)) limit 1'
    into v_id using p_email;
  return v_id;
end;
$$;
comment on function salesos.find_auth_user(text) is
  'The Supabase Auth user id (auth.users) with this email, case-insensitively; null when none, or when the database has no auth schema.';

create function salesos.set_tenant_member(p_tenant_id uuid, p_user_id uuid, p_email text, p_role text)
returns table (outcome text, tenant_id uuid, user_id uuid, email text, role text, created_at timestamptz)
language plpgsql
set search_path = ''
as $$
begin
  -- The only owner cannot be demoted: a tenant keeps someone who can manage it.
  if p_role <> 'owner' and exists (
    select 1 from salesos.tenant_members m
     where m.tenant_id = p_tenant_id and m.user_id = p_user_id and m.role = 'owner'
  ) and (select count(*) from salesos.tenant_members m where m.tenant_id = p_tenant_id and m.role = 'owner') = 1 then
    return query select 'last_owner'::text, p_tenant_id, p_user_id, p_email, 'owner'::text, null::timestamptz;
    return;
  end if;
  return query
    insert into salesos.tenant_members as m (tenant_id, user_id, email, role)
    values (p_tenant_id, p_user_id, p_email, p_role)
    on conflict on constraint tenant_members_pkey do update
       set role = excluded.role, email = coalesce(excluded.email, m.email)
    returning 'saved'::text, m.tenant_id, m.user_id, m.email, m.role, m.created_at;
end;
$$;
comment on function salesos.set_tenant_member(uuid, uuid, text, text) is
  'Makes a user a member of a tenant with this role, or changes its role (outcome saved); the only owner is not demoted (outcome last_owner).';

create function salesos.remove_tenant_member(p_tenant_id uuid, p_user_id uuid)
returns text
language plpgsql
set search_path = ''
as $$
declare
  v_role text;
begin
  select m.role into v_role from salesos.tenant_members m
   where m.tenant_id = p_tenant_id and m.user_id = p_user_id
   for update;
  if not found then
    return 'not_member';
  end if;
  if v_role = 'owner'
     and (select count(*) from salesos.tenant_members m where m.tenant_id = p_tenant_id and m.role = 'owner') = 1 then
    return 'last_owner';
  end if;
  delete from salesos.tenant_members m where m.tenant_id = p_tenant_id and m.user_id = p_user_id;
  return 'removed';
end;
$$;
comment on function salesos.remove_tenant_member(uuid, uuid) is
  'Removes a member from a tenant (removed), unless it is not one (not_member) or is the only owner (last_owner).';

create function salesos.list_tenant_members(p_tenant_id uuid)
returns table (user_id uuid, email text, role text, created_at timestamptz)
language sql
stable
set search_path = ''
as $$
  select m.user_id, m.email, m.role, m.created_at
    from salesos.tenant_members m
   where m.tenant_id = p_tenant_id
   order by case m.role when 'owner' then 0 when 'admin' then 1 else 2 end, m.created_at, m.user_id;
$$;
comment on function salesos.list_tenant_members(uuid) is 'A tenant''s members and roles, owners first, then admins, then members.';
