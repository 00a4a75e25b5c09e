-- An organization's call-time policies (Cedar): every publication is a new version, the
-- newest is in force, an empty source turns them off. Versions are kept, so that a
-- refused call can be traced to the policies in force when it was made.
CREATE TABLE policy_versions (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    source TEXT NOT NULL,
    -- The policies' names in the order written, as a JSON array of strings.
    names TEXT NOT NULL,
    published_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org_id, version)
);
