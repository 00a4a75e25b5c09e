-- When someone last restarted the upstream (API, CLI, a new connection): every node
-- that runs it starts it afresh once it sees a newer time than its own (SPEC §8, §9).
ALTER TABLE upstreams ADD COLUMN restarted_at INTEGER;
