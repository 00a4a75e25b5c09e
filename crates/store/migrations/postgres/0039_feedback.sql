-- What people say of a server through the send_feedback tool: a rating from 1 to 5 and a
-- text, per person (end user) and session where there is one. An erasure moves a person's
-- feedback to their anonymous tombstone, as it does their support requests.
CREATE TABLE feedback (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    end_user_id TEXT REFERENCES end_users(id) ON DELETE SET NULL,
    session_id TEXT,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    text TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX feedback_org ON feedback (org_id, created_at, id);
CREATE INDEX feedback_server ON feedback (org_id, server_id, created_at);
CREATE INDEX feedback_end_user ON feedback (end_user_id);
-- Whether a server offers send_feedback: off until its team turns it on.
ALTER TABLE mcp_servers ADD COLUMN feedback_tool_enabled BOOLEAN NOT NULL DEFAULT FALSE;
