//! The management API, end to end: the real router on a fresh SQLite database per test,
//! driven with `tower::ServiceExt::oneshot`.

mod helpers;

mod auth;
mod errors;
mod openapi;
mod reports;
mod servers;
mod support_and_end_users;
mod tenancy;
mod walkthroughs;
