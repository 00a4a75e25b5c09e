//! Accounts: who is who. Organizations and their API keys (`organizations`); the members
//! who run them from the dashboard (`members`); the end users of their servers and how a
//! call is tied to one (`end_users`, `identity`); an organization's own OpenID provider
//! (`oidc`); the platform's OAuth 2.1 authorization server (`authorization`); and a new
//! secret shown once after the form that made it (`shown_once`).

pub mod authorization;
pub mod end_users;
pub mod identity;
pub mod members;
pub mod oidc;
pub mod organizations;
pub mod shown_once;
