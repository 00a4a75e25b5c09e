-- Dashboard members (issue 15, SPEC §12): the people of an organization with their role,
-- the one pending sign-in code per email (a salted hash, every guess counted, sends
-- capped per hour), and the
-- dashboard sessions (the cookie's token is stored only as its hash).
CREATE TABLE members (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_sign_in_at BIGINT,
    UNIQUE (org_id, email)
);
CREATE INDEX members_email ON members(email);

CREATE TABLE member_sign_in_codes (
    email TEXT PRIMARY KEY,
    code_hash TEXT NOT NULL,
    failed_attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Codes sent to this email since first_sent_at (the hourly sending cap).
    sends BIGINT NOT NULL DEFAULT 1,
    first_sent_at BIGINT NOT NULL
);

CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    member_id TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_member ON dashboard_sessions(member_id);
