//! The rules of the platform's OAuth 2.1 authorization server, one per hosted
//! server that requires sign-in. The `guidepost-auth` crate speaks the protocol (HTTP,
//! redirects, pages, OAuth error responses, fetching client metadata documents, the trip
//! to an organization's provider) and asks these services what is allowed:
//!
//! - who a client is and where it may be sent back (`clients`, `redirect_uris`), and
//!   dynamic registration (`registration`);
//! - the login session, a stored state machine written compare-and-set (`logins`), and
//!   its steps: the email one-time code (`codes`), the organization's own provider
//!   (`upstream`), the person's decision (`consent`);
//! - what makes an authorization code or refresh token good for tokens, and revocation
//!   (`tokens`); what makes an access token good for a server (`access`);
//! - scopes (`scopes`) and the comparisons the rules rest on (`crypto`).
//!
//! Secrets (cookie secrets, one-time codes, authorization codes, tokens, client secrets)
//! are made here, returned once in plain text and stored only as hashes. Lookups by hash
//! are platform-wide (the hash of a random value names one record); everything else is
//! scoped to the server's organization.

pub mod access;
pub mod clients;
pub mod codes;
pub mod consent;
pub mod crypto;
pub mod logins;
pub mod redirect_uris;
pub mod registration;
pub mod scopes;
pub mod tokens;
pub mod upstream;
