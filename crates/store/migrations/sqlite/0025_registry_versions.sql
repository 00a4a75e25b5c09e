-- Registry versions (issue 28): every version a registry serves, not only its latest,
-- so that an operator installs or upgrades to a chosen one.
CREATE TABLE registry_versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    -- The registry's base URL, or 'import' (a name's versions all come from one source).
    source TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'deprecated', 'deleted')),
    -- The registry's own word (its isLatest), when it said one.
    is_latest BOOLEAN,
    document TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    synced_at INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
INSERT INTO registry_versions
    SELECT name, version, source, status, NULL, document, updated_at, updated_at, synced_at
    FROM registry_entries;
-- The catalog's row of a name stays its latest version; this lists all of them, newest
-- first (JSON), so that a catalog page reads no other table.
ALTER TABLE registry_entries ADD COLUMN versions TEXT NOT NULL DEFAULT '[]';
UPDATE registry_entries SET versions = json_array(version);
-- The registry version an upstream was installed or last upgraded from (NULL for an
-- entry of another source): what "upgrade available" compares with the latest.
ALTER TABLE upstreams ADD COLUMN catalog_entry_version TEXT;
