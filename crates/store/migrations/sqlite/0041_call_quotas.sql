-- An organization's call quotas (a JSON document of rules), and the calls counted
-- against them: one row per counter (a rule's target and window, and a caller) and
-- window, the older windows of a counter deleted as a new one starts.
CREATE TABLE call_quotas (
    org_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
    rules TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE quota_counts (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    counter TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    calls INTEGER NOT NULL,
    PRIMARY KEY (org_id, counter, window_start)
);
