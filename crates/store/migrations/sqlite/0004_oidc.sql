-- Sign-in federated to an organization's own OpenID Connect provider (`custom_oauth`).

-- The salt of a login session's current trip to the provider (with the browser's cookie
-- secret it derives that trip's state, nonce and PKCE verifier; none of them is stored).
ALTER TABLE oauth_login_sessions ADD COLUMN upstream_salt TEXT;

-- One provider per server. The client secret is stored sealed (AES-256-GCM with the
-- platform's master key), never in plain text.
CREATE TABLE oidc_providers (
    server_id TEXT PRIMARY KEY REFERENCES mcp_servers(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    issuer_url TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret_sealed TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
