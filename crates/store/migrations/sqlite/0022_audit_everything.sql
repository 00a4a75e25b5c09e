-- The audit log records every mutating action (issue 30): who acted by name, and the object
-- the event is about by type, id and name (kept, since the object may be deleted).
ALTER TABLE audit_events ADD COLUMN actor_name TEXT;
ALTER TABLE audit_events ADD COLUMN object_type TEXT;
ALTER TABLE audit_events ADD COLUMN object_id TEXT;
ALTER TABLE audit_events ADD COLUMN object_name TEXT;
CREATE INDEX audit_events_actor ON audit_events(org_id, actor, created_at);
CREATE INDEX audit_events_object ON audit_events(org_id, object_id, created_at);
-- The overview counts open support requests and failed webhook deliveries per organization.
CREATE INDEX support_requests_org_status ON support_requests(org_id, status);
CREATE INDEX webhook_deliveries_org_status ON webhook_deliveries(org_id, status, created_at);

-- What is written on a support request after it opens: the team's replies (mailed to the
-- person), internal notes, and the person's follow-ups through get_support.
CREATE TABLE support_messages (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    request_id TEXT NOT NULL REFERENCES support_requests(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX support_messages_request ON support_messages(org_id, request_id, created_at);

-- A call made from the dashboard's tool tester, so that analytics can tell it apart.
ALTER TABLE tool_calls ADD COLUMN is_test BOOLEAN NOT NULL DEFAULT FALSE;

-- The clients that connect to a server, grouped from its sessions.
CREATE INDEX mcp_sessions_server ON mcp_sessions(org_id, server_id, last_seen_at);
