-- The platform's OAuth 2.1 authorization server (SQLite). Secrets are stored only as
-- SHA-256 hashes. Client ids are TEXT without a foreign key: a client may be a metadata
-- document URL (CIMD) that is fetched, not registered.

-- De-anonymization: an anonymous end user linked to the signed-in person.
ALTER TABLE end_users ADD COLUMN linked_end_user_id TEXT REFERENCES end_users(id) ON DELETE SET NULL;
ALTER TABLE end_users ADD COLUMN linked_at INTEGER;
-- One end user per verified email and organization.
CREATE UNIQUE INDEX end_users_verified_email ON end_users(org_id, email) WHERE email_verified;

CREATE TABLE oauth_clients (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    client_name TEXT,
    client_uri TEXT,
    redirect_uris TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    scope TEXT,
    secret_hash TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX oauth_clients_server ON oauth_clients(server_id, created_at);

CREATE TABLE oauth_login_sessions (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_name TEXT,
    redirect_uri TEXT NOT NULL,
    state TEXT,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    stage TEXT NOT NULL,
    email TEXT,
    code_hash TEXT,
    code_expires_at INTEGER,
    code_attempts INTEGER NOT NULL,
    codes_sent INTEGER NOT NULL,
    end_user_id TEXT REFERENCES end_users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revision INTEGER NOT NULL
);
CREATE INDEX oauth_login_sessions_email ON oauth_login_sessions(org_id, email, created_at);
CREATE INDEX oauth_login_sessions_expiry ON oauth_login_sessions(expires_at);

CREATE TABLE oauth_grants (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    end_user_id TEXT NOT NULL REFERENCES end_users(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX oauth_grants_end_user ON oauth_grants(end_user_id);

CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    grant_id TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE INDEX oauth_codes_expiry ON oauth_codes(expires_at);

CREATE TABLE oauth_tokens (
    token_hash TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    grant_id TEXT NOT NULL REFERENCES oauth_grants(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens(grant_id);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens(expires_at);
