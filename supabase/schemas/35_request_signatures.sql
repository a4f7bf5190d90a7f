-- P2S-SIGN-V1 replay protection: every signature admit_request accepted, for as long as its
-- timestamp could still be inside the 30-second window (rows older than 2 minutes are deleted by
-- maintain_request_log, and now and then by admit_request itself).

create table salesos.request_signatures (
  signature bytea primary key check (octet_length(signature) = 32),
  key_id uuid not null,
  created_at timestamptz not null default now()
);
comment on table salesos.request_signatures is
  'Signatures of P2S-SIGN-V1 requests already accepted: a signature is accepted once (unique), across every instance.';
create index request_signatures_created_idx on salesos.request_signatures (created_at);

alter table salesos.request_signatures enable row level security;
