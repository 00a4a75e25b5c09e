-- Connections (issue 32): an HTTP upstream reached with the organization's account or each
-- person's, obtained through the upstream's own authorization server.

-- The upstream's authorization server as discovered, and the client the platform is
-- registered as there (sealed: it may hold a client secret).
CREATE TABLE upstream_authorizations (
    upstream_id TEXT PRIMARY KEY REFERENCES upstreams(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    sealed TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One connection per upstream and owner ('organization', or an end user's id). The tokens
-- are sealed; `revision` makes every token write compare-and-set, and `refreshing_until`
-- is the lease of the one node that refreshes.
CREATE TABLE upstream_connections (
    upstream_id TEXT NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    account TEXT,
    tokens_sealed TEXT NOT NULL,
    expires_at INTEGER,
    revision INTEGER NOT NULL,
    refreshing_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (upstream_id, owner)
);
CREATE INDEX upstream_connections_org ON upstream_connections(org_id, owner);

-- A connect flow from its link to its callback. `id` is the hash of the link's token and
-- `state_hash` the hash of the current trip's state; both are single use by `stage`.
CREATE TABLE upstream_connect_flows (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    upstream_id TEXT NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    server_id TEXT REFERENCES mcp_servers(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    state_hash TEXT UNIQUE,
    sealed TEXT,
    started_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX upstream_connect_flows_age ON upstream_connect_flows(expires_at);
