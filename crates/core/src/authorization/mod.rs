//! The records of the platform's OAuth 2.1 authorization server (SPEC §3), as the
//! `guidepost-auth` crate reaches them: registered clients (`clients`), sign-in
//! sessions with their one-time codes (`logins`), and grants with their authorization
//! codes and tokens (`tokens`). Every secret arrives already hashed; lookups by hash are
//! platform-wide (a hash of a random value names one record), everything else is scoped
//! to the server's organization. What makes a code or token acceptable (expiry, client,
//! audience, PKCE) is checked by the caller against the records returned here; the
//! transitions that must be atomic (spending a code, rotating a refresh token, revoking a
//! family) happen in one store transaction each.

pub mod clients;
pub mod logins;
pub mod tokens;
