-- Registry and discovery (issue 28): the server.json documents of the operator's
-- registries and imports, one row per server name (its latest version), platform-wide.
CREATE TABLE registry_entries (
    name TEXT PRIMARY KEY,
    -- The registry's base URL, or 'import'.
    source TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'deprecated', 'deleted')),
    -- ' npm http ': the runtimes it installs with, space-padded for a whole-word LIKE.
    runtimes TEXT NOT NULL,
    -- Lower-case name, title, description and tool names, what the catalog searches.
    search_text TEXT NOT NULL,
    document TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    synced_at BIGINT NOT NULL
);
CREATE INDEX registry_entries_source ON registry_entries (source);
-- A search reads this index alone, in name order, and only its page's rows.
CREATE INDEX registry_entries_search ON registry_entries (name, runtimes, search_text);

-- Each registry's sync: its incremental mark and a lease, so one node syncs at a time.
CREATE TABLE registry_syncs (
    source TEXT PRIMARY KEY,
    updated_since BIGINT,
    lease_until BIGINT,
    last_started_at BIGINT,
    last_finished_at BIGINT,
    last_error TEXT,
    last_received BIGINT NOT NULL,
    last_requests BIGINT NOT NULL
);
