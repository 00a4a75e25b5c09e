-- Gateway, faithful (issue 25): an upstream's prompts, resources and resource templates are
-- kept beside its tools, hashed, scanned and reviewed alike. `kind` says which; a
-- resource's name is its URI, a template's its URI template.
ALTER TABLE upstream_tools ADD COLUMN kind TEXT NOT NULL DEFAULT 'tool';
ALTER TABLE upstream_tools DROP CONSTRAINT upstream_tools_pkey;
ALTER TABLE upstream_tools ADD PRIMARY KEY (upstream_id, kind, name);

ALTER TABLE approved_definitions ADD COLUMN kind TEXT NOT NULL DEFAULT 'tool';
ALTER TABLE approved_definitions DROP CONSTRAINT approved_definitions_pkey;
ALTER TABLE approved_definitions ADD PRIMARY KEY (upstream_id, kind, name, definition_hash);

-- An attachment's allowlist of prompts (JSON list of the upstream's prompt names; NULL:
-- all of them), like `allowed_tools`.
ALTER TABLE upstream_attachments ADD COLUMN allowed_prompts TEXT;
