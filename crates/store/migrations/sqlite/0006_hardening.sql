-- Security hardening (issue 11).

-- Every one-time code mailed, counted against the address it went to (normalized: case
-- and +tag folded) and the address it was asked from, whatever the login session does
-- afterwards.
CREATE TABLE oauth_code_sends (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    address_key TEXT NOT NULL,
    client_ip TEXT,
    sent_at INTEGER NOT NULL
);
CREATE INDEX oauth_code_sends_address ON oauth_code_sends(org_id, address_key, sent_at);
CREATE INDEX oauth_code_sends_ip ON oauth_code_sends(org_id, client_ip, sent_at);
CREATE INDEX oauth_code_sends_age ON oauth_code_sends(sent_at);

-- A custom domain serves only once a DNS TXT record proves it (SPEC §1). Until then it is
-- pending here, with its challenge; `custom_domain` holds only verified domains.
ALTER TABLE mcp_servers ADD COLUMN pending_domain TEXT;
ALTER TABLE mcp_servers ADD COLUMN pending_domain_token TEXT;

-- A rotated refresh token's successors are derived from it and this random nonce, so that
-- a concurrent refresh within the grace gets the same successors back (nothing but
-- hashes of tokens is stored).
ALTER TABLE oauth_tokens ADD COLUMN successor_nonce TEXT;

-- An organization may accept emails its provider does not mark verified (`email_verified`
-- missing); by default they are refused.
ALTER TABLE oidc_providers ADD COLUMN accept_unverified_email BOOLEAN NOT NULL DEFAULT 0;
