-- Interactive walkthroughs (SQLite).
CREATE TABLE walkthroughs (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    external_key TEXT,
    title TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    estimated_duration_minutes INTEGER,
    tags TEXT NOT NULL,
    metadata TEXT NOT NULL,
    first_step_id TEXT,
    published_version INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org_id, external_key)
);
CREATE INDEX walkthroughs_org ON walkthroughs(org_id, created_at);

-- Draft steps: a singly linked list from walkthroughs.first_step_id.
CREATE TABLE walkthrough_steps (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    walkthrough_id TEXT NOT NULL REFERENCES walkthroughs(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    section_title TEXT,
    content TEXT NOT NULL,
    next_step_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX walkthrough_steps_walkthrough ON walkthrough_steps(walkthrough_id);

-- Immutable published versions: the ordered steps as a JSON array.
CREATE TABLE walkthrough_versions (
    walkthrough_id TEXT NOT NULL REFERENCES walkthroughs(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    steps TEXT NOT NULL,
    step_count INTEGER NOT NULL,
    published_at INTEGER NOT NULL,
    PRIMARY KEY (walkthrough_id, version)
);

CREATE TABLE server_walkthroughs (
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    walkthrough_id TEXT NOT NULL REFERENCES walkthroughs(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    display_order INTEGER NOT NULL,
    is_enabled BOOLEAN NOT NULL,
    assigned_at INTEGER NOT NULL,
    PRIMARY KEY (server_id, walkthrough_id)
);
CREATE INDEX server_walkthroughs_walkthrough ON server_walkthroughs(walkthrough_id);

CREATE TABLE walkthrough_progress (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    end_user_id TEXT NOT NULL REFERENCES end_users(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL REFERENCES mcp_servers(id) ON DELETE CASCADE,
    walkthrough_id TEXT NOT NULL REFERENCES walkthroughs(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    current_step_id TEXT,
    completed_step_ids TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    completed_at INTEGER,
    revision INTEGER NOT NULL,
    UNIQUE (end_user_id, server_id, walkthrough_id)
);
CREATE INDEX walkthrough_progress_walkthrough ON walkthrough_progress(walkthrough_id);
CREATE INDEX walkthrough_progress_user ON walkthrough_progress(end_user_id, server_id, last_activity_at);
