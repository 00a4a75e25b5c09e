-- Foundation schema (SQLite). Times are microseconds since the Unix epoch.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    display_prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_org ON api_keys(org_id, created_at);

CREATE TABLE mcp_servers (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    custom_domain TEXT UNIQUE,
    auth_mode TEXT NOT NULL,
    walkthrough_tools_enabled BOOLEAN NOT NULL,
    support_tool_enabled BOOLEAN NOT NULL,
    product_name TEXT,
    instructions TEXT,
    allowed_origins TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX mcp_servers_org ON mcp_servers(org_id, created_at);

CREATE TABLE end_users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    tracking_id TEXT,
    email TEXT,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    UNIQUE (org_id, tracking_id)
);
CREATE INDEX end_users_org ON end_users(org_id, first_seen_at);
CREATE INDEX end_users_email ON end_users(org_id, email);

CREATE TABLE mcp_sessions (
    id TEXT PRIMARY KEY,
    transport_id TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    end_user_id TEXT REFERENCES end_users(id) ON DELETE SET NULL,
    client_name TEXT,
    client_version TEXT,
    protocol_version TEXT,
    transport_state TEXT,
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX mcp_sessions_idle ON mcp_sessions(last_seen_at);
CREATE INDEX mcp_sessions_end_user ON mcp_sessions(end_user_id);

CREATE TABLE support_requests (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    end_user_id TEXT REFERENCES end_users(id) ON DELETE SET NULL,
    email TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    context TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX support_requests_org ON support_requests(org_id, created_at);

CREATE TABLE tool_calls (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL,
    session_id TEXT,
    end_user_id TEXT,
    tool_name TEXT NOT NULL,
    arguments TEXT NOT NULL,
    result_summary TEXT NOT NULL,
    is_error BOOLEAN NOT NULL,
    error_code INTEGER,
    duration_us INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX tool_calls_org ON tool_calls(org_id, created_at);
CREATE INDEX tool_calls_server ON tool_calls(server_id, created_at);
