-- Approvals of single calls, bound to the exact call (server, caller, tool, the digest of
-- its canonical arguments, the tool's definition hash, the policy version that asked).
-- A person's approval page is found by the hash of its link's token.
CREATE TABLE call_approvals (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    server_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    caller_name TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    arguments_digest TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    policy_version INTEGER NOT NULL,
    policy TEXT NOT NULL,
    reason TEXT,
    approver TEXT NOT NULL,
    status TEXT NOT NULL,
    token_hash TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    decided_by TEXT,
    decided_at INTEGER
);
CREATE INDEX call_approvals_binding ON call_approvals
    (org_id, server_id, caller, tool, arguments_digest, created_at);
CREATE INDEX call_approvals_pending ON call_approvals (org_id, status, created_at);
CREATE UNIQUE INDEX call_approvals_token ON call_approvals (token_hash);
