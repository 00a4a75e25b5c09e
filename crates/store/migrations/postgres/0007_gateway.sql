-- The gateway (SPEC §8): upstream MCP servers an organization installed, the tools each
-- one offers, and their attachments to hosted servers.

CREATE TABLE upstreams (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    catalog_entry_id TEXT,
    -- The launch specification (runtime, package or command, args, env), as JSON.
    spec TEXT NOT NULL,
    -- Secrets, sealed with the master key, as JSON of name → sealed value.
    secrets_sealed TEXT NOT NULL,
    status TEXT NOT NULL,
    -- eager: every node starts it when it starts; on_demand: on its first call there.
    start TEXT NOT NULL,
    last_error TEXT,
    restarts BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX upstreams_org ON upstreams(org_id, created_at);

-- Tools as the upstream last listed them. `state` is the approval state; until pinning
-- lands, a discovered tool is approved on discovery.
CREATE TABLE upstream_tools (
    upstream_id TEXT NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    -- What the scanner found, as JSON.
    findings TEXT NOT NULL,
    position BIGINT NOT NULL,
    discovered_at BIGINT NOT NULL,
    PRIMARY KEY (upstream_id, name)
);

-- Every definition an administrator (or a clean first discovery) approved: one that
-- comes back is not flagged again.
CREATE TABLE approved_definitions (
    upstream_id TEXT NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    approved_at BIGINT NOT NULL,
    PRIMARY KEY (upstream_id, name, definition_hash)
);

CREATE TABLE upstream_attachments (
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    upstream_id TEXT NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    prefix TEXT NOT NULL,
    allowed_tools TEXT,
    timeout_ms BIGINT NOT NULL,
    attached_at BIGINT NOT NULL,
    PRIMARY KEY (server_id, upstream_id)
);
CREATE UNIQUE INDEX upstream_attachments_prefix ON upstream_attachments(server_id, prefix);
CREATE INDEX upstream_attachments_upstream ON upstream_attachments(upstream_id);

-- Which upstream answered a recorded call (the gateway), if one did; kept after it is uninstalled.
ALTER TABLE tool_calls ADD COLUMN upstream_id TEXT;

-- Organizations' private catalog entries (npm packages and remote servers only).
CREATE TABLE catalog_entries (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    -- The launch specification, the secrets it requires and the settings it takes, as JSON.
    spec TEXT NOT NULL,
    secrets TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, id)
);

-- The gateway's audit log: who installed, attached, approved or rejected what, and what
-- the platform discovered and quarantined.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    upstream_id TEXT,
    server_id TEXT,
    tool TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_events_org ON audit_events(org_id, created_at);

-- Whether a new, clean tool of an upstream needs an administrator's approval (manual) or is
-- trusted when first seen (trust_on_first_use).
ALTER TABLE organizations ADD COLUMN tool_approval TEXT NOT NULL DEFAULT 'manual';
