-- Sign-in codes are also capped per organization and hour, over every mailbox and client
-- address (`CodeSendLimits::per_organization`): many clients each under their own cap
-- could otherwise have the platform mail without bound. The count reads this index.
CREATE INDEX oauth_code_sends_org ON oauth_code_sends(org_id, sent_at);
