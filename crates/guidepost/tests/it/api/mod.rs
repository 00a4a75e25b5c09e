//! The management API, end to end: the real application on a fresh database per test
//! (`spawn_app`), on SQLite and PostgreSQL, driven over HTTP.

mod helpers;

mod auth;
mod concurrent_edits;
mod errors;
mod funnel;
mod lists;
mod openapi;
mod reports;
mod servers;
mod support_and_end_users;
mod tenancy;
mod walkthroughs;
