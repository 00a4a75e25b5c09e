-- How a person proved who they are, for the call-time policies: the issuer of the
-- organization's identity provider (NULL for the platform's emailed code) and the groups
-- its ID token named (a JSON array), kept on the login session until its grant is made,
-- then on the grant for its lifetime.
ALTER TABLE oauth_login_sessions ADD COLUMN sign_in_provider TEXT;
ALTER TABLE oauth_login_sessions ADD COLUMN sign_in_groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE oauth_grants ADD COLUMN sign_in_provider TEXT;
ALTER TABLE oauth_grants ADD COLUMN sign_in_groups TEXT NOT NULL DEFAULT '[]';
