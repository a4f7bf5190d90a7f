-- Tenants and the Dashboard users who manage them.

create table salesos.tenants (
  id uuid primary key default gen_random_uuid(),
  slug text not null unique check (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text not null check (char_length(name) between 1 and 200),
  created_at timestamptz not null default now()
);
comment on table salesos.tenants is 'A customer company. Every other row belongs to exactly one tenant.';

create table salesos.tenant_members (
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  user_id uuid not null,
  email text,
  role text not null check (role in ('owner', 'admin', 'member')),
  created_at timestamptz not null default now(),
  primary key (tenant_id, user_id)
);
comment on table salesos.tenant_members is 'Dashboard users (Supabase Auth user ids) of a tenant and their role; owner and admin hold admin.integrations.';
create index tenant_members_user_id_idx on salesos.tenant_members (user_id);

alter table salesos.tenants enable row level security;
alter table salesos.tenant_members enable row level security;
