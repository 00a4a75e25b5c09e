-- Upstream process pools (issue 34): how many processes of an upstream each node runs.
-- Only an entry the platform's catalog marks stateless may run more than one.
ALTER TABLE upstreams ADD COLUMN replicas BIGINT NOT NULL DEFAULT 1;
