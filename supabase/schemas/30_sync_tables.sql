-- Synced data: collaborators (salespeople) and their numbered CRM activities.

create table salesos.collaborators (
  id uuid not null default gen_random_uuid(),
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  environment text not null check (environment in ('live', 'test')),
  external_id text not null check (char_length(external_id) between 1 and 255),
  name text not null check (char_length(name) between 1 and 255),
  email text not null check (char_length(email) between 3 and 320),
  email_normalized text generated always as (lower(btrim(email))) stored,
  phone text check (char_length(phone) <= 50),
  document text check (char_length(document) <= 20),
  team text check (char_length(team) <= 100),
  role text check (char_length(role) <= 50),
  metadata jsonb check (metadata is null or jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The identifying column leads each unique index: a lookup by email can only use the email
  -- index (and one by external_id the other), whatever the statistics say while the table grows.
  unique (email_normalized, tenant_id, environment),
  -- A batch may move an external_id from one collaborator to another (renumbering, even a swap):
  -- uniqueness is checked at the end of the upsert statement, not row by row in its write order.
  unique (external_id, tenant_id, environment) deferrable initially immediate,
  -- The id leads (rows are found by id alone); the tenant is part of every key, for distribution by tenant.
  primary key (id, tenant_id)
);
comment on table salesos.collaborators is 'Salespeople synced by sync_collaborators; identity is the trimmed, lower-cased email per tenant and environment.';

create table salesos.activities (
  id bigint generated always as identity,
  tenant_id uuid not null references salesos.tenants (id) on delete cascade,
  environment text not null check (environment in ('live', 'test')),
  external_id text not null check (char_length(external_id) between 1 and 255),
  activity_code text not null check (activity_code ~ '^[0-9]{3}$' and activity_code <> '000'),
  collaborator_id uuid not null,
  data jsonb check (data is null or jsonb_typeof(data) = 'object'),
  occurred_at timestamptz not null,
  received_at timestamptz not null default now(),
  request_id uuid not null,
  unique (external_id, tenant_id, environment),
  primary key (id, tenant_id),
  foreign key (collaborator_id, tenant_id) references salesos.collaborators (id, tenant_id) on delete cascade
);
comment on table salesos.activities is 'Numbered CRM activities (001-999) of collaborators; stored once per external_id, tenant and environment.';
create index activities_collaborator_idx on salesos.activities (collaborator_id, occurred_at);

alter table salesos.collaborators enable row level security;
alter table salesos.activities enable row level security;
