-- Invitation mails (security hardening, issue 26): each one counted against the mailbox
-- it went to (Email::mailbox_key: case and +tag folded) in its organization, so that
-- inviting, removing and inviting again cannot mail one address without bound. A row
-- counts until counts_until, then is swept.
CREATE TABLE member_invitation_sends (
    org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    address_key TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    counts_until BIGINT NOT NULL
);
CREATE INDEX member_invitation_sends_address ON member_invitation_sends(org_id, address_key, counts_until);
CREATE INDEX member_invitation_sends_age ON member_invitation_sends(counts_until);
