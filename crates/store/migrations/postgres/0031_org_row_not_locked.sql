-- The rows written on every tool call no longer reference `organizations` (issue 34).
-- PostgreSQL checks a foreign key by taking a KEY SHARE lock on the referenced row, and
-- every recorded call, rollup and walkthrough start of an organization references the
-- same row: under load every concurrent writer of an organization took a lock on that
-- one row, and the walkthrough mix at 16 users ran 1.05 times as many calls per second
-- without these four keys (docs/PERFORMANCE.md).
--
-- Nothing is lost. No organization is deleted; a progress row still references its
-- server, which belongs to the organization and whose deletion still removes it; the
-- recorded calls and their rollups lost the same key on SQLite when they moved to a file
-- of their own (0030), and a person's erasure and retention delete them explicitly.
ALTER TABLE tool_calls DROP CONSTRAINT IF EXISTS tool_calls_org_id_fkey;
ALTER TABLE tool_call_rollups DROP CONSTRAINT IF EXISTS tool_call_rollups_org_id_fkey;
ALTER TABLE tool_call_daily_rollups DROP CONSTRAINT IF EXISTS tool_call_daily_rollups_org_id_fkey;
ALTER TABLE walkthrough_progress DROP CONSTRAINT IF EXISTS walkthrough_progress_org_id_fkey;
