-- Nothing in salesos is for the API roles. Row-level security is on for every table (with no
-- policy: the API roles would see no row even if granted one); tables and sequences are revoked
-- from PUBLIC, anon and authenticated, and functions and procedures, executable by PUBLIC when
-- created, from PUBLIC. supabase/tests/database/privileges.test.sql and row_level_security.test.sql
-- check it.

revoke all on all tables in schema salesos from public, anon, authenticated;
revoke all on all sequences in schema salesos from public, anon, authenticated;
revoke execute on all routines in schema salesos from public;
