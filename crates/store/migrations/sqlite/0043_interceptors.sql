-- An organization's interceptors: HTTP services asked at call time (before a tool runs,
-- on its result), in the order they were registered. The signing secret is sealed.
CREATE TABLE interceptors (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    phases TEXT NOT NULL,
    timeout_ms INTEGER NOT NULL,
    on_failure TEXT NOT NULL,
    mode TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org_id, name)
);
