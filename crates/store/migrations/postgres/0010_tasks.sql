-- Tasks (issue 16, the MCP tasks extension): tool calls that outlive their request. The
-- node running the call writes its end here; any node reads it for tasks/get and writes
-- answers and cancellations for tasks/update and tasks/cancel. Every write is
-- conditional on `revision`, so racing nodes cannot lose one another's changes.
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    end_user_id TEXT,
    tool TEXT NOT NULL,
    status TEXT NOT NULL,
    input_requests TEXT NOT NULL,
    input_responses TEXT NOT NULL,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE INDEX tasks_server_open ON tasks(server_id, status);
CREATE INDEX tasks_expiry ON tasks(expires_at);
