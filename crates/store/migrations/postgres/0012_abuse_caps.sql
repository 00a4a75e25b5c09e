-- Issue 26 (M1, M3): caps that keep one client or one upstream from making the platform
-- work for it. A task remembers the client address it was started from, so that open
-- tasks are capped per address as well as per end user and per server.
ALTER TABLE tasks ADD COLUMN client_address TEXT;

-- The audit events one upstream caused within the last hour are counted at each
-- discovery (a bounded number is written), and old events are pruned by age.
CREATE INDEX audit_events_upstream ON audit_events(upstream_id, created_at);
CREATE INDEX audit_events_age ON audit_events(created_at);
