-- A new secret (an API key) waiting to be shown once on the dashboard page after the
-- redirect, whichever node that page lands on: sealed with the master key (the session's
-- token hash as associated data), taken by the first show, gone after 10 minutes or with
-- its session.
CREATE TABLE dashboard_shown_once (
    token_hash TEXT PRIMARY KEY REFERENCES dashboard_sessions(token_hash) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    sealed TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_shown_once_expiry ON dashboard_shown_once(expires_at);
