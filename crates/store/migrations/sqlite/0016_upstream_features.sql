-- Gateway, faithful (issue 25): an upstream's prompts, resources and resource templates are
-- kept beside its tools, hashed, scanned and reviewed alike. `kind` says which; a
-- resource's name is its URI, a template's its URI template. SQLite cannot change a
-- primary key, so both tables are rebuilt.
CREATE TABLE upstream_definitions_new (
    upstream_id TEXT NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind TEXT NOT NULL DEFAULT 'tool',
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    findings TEXT NOT NULL,
    position INTEGER NOT NULL,
    discovered_at INTEGER NOT NULL,
    PRIMARY KEY (upstream_id, kind, name)
);
INSERT INTO upstream_definitions_new (upstream_id, org_id, kind, name, definition,
    definition_hash, state, findings, position, discovered_at)
SELECT upstream_id, org_id, 'tool', name, definition, definition_hash, state, findings,
    position, discovered_at FROM upstream_tools;
DROP TABLE upstream_tools;
ALTER TABLE upstream_definitions_new RENAME TO upstream_tools;

CREATE TABLE approved_definitions_new (
    upstream_id TEXT NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind TEXT NOT NULL DEFAULT 'tool',
    name TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    definition TEXT,
    PRIMARY KEY (upstream_id, kind, name, definition_hash)
);
INSERT INTO approved_definitions_new (upstream_id, org_id, kind, name, definition_hash,
    approved_at, definition)
SELECT upstream_id, org_id, 'tool', name, definition_hash, approved_at, definition
FROM approved_definitions;
DROP TABLE approved_definitions;
ALTER TABLE approved_definitions_new RENAME TO approved_definitions;

-- An attachment's allowlist of prompts (JSON list of the upstream's prompt names; NULL:
-- all of them), like `allowed_tools`.
ALTER TABLE upstream_attachments ADD COLUMN allowed_prompts TEXT;
