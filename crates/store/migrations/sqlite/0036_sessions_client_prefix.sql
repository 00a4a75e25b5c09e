-- The client address prefix a session was opened from (as per-address limits key it):
-- the stored sessions of one prefix are bounded, the least recently seen forgotten first,
-- so that one address (or one IPv6 /64) cannot grow the table without end.
ALTER TABLE mcp_sessions ADD COLUMN client_prefix TEXT;
CREATE INDEX mcp_sessions_by_client_prefix ON mcp_sessions (client_prefix, last_seen_at);
