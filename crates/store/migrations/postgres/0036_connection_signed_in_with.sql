-- Which sign-in vouched for the person a connection was made for ("platform", an OpenID
-- provider's issuer, or one server's own): a person's connection serves only calls from
-- servers whose people sign in the same way, so that the weakest sign-in among an
-- organization's servers does not decide who uses it. NULL for an organization's
-- connection, and for a person's made before this column (connected again at first use).
ALTER TABLE upstream_connections ADD COLUMN signed_in_with TEXT;
