//! Call-time policies: an organization's Cedar policies, compiled against the schema
//! Guidepost publishes ([`SCHEMA`]), and the decision they make on one tool call.
//!
//! Cedar rather than a rule language of our own: it is small, analyzable, has a validator
//! that checks every attribute a policy reads against the schema, and its semantics are
//! documented (forbid overrides permit; nothing permitted is denied). A policy set is
//! compiled once when it is published and once per node when a call first needs it
//! ([`CallPolicies::compile`]); a call builds its entities and asks
//! ([`CallPolicies::decide`]).
//!
//! Fail closed: a policy that cannot be evaluated for a call (an overflow, say) denies
//! the call, naming the policy, rather than being skipped as Cedar would skip it.
//!
//! **Architecture Invariant:** pure: no I/O, no clock (the call's time is one of its
//! facts), nothing of Guidepost's other crates. Core decides where the decision applies.

mod approval;
mod compile;
mod decide;
mod facts;
mod request;
mod schema;

pub use approval::{Asked, AskedOf};
pub use compile::{CallPolicies, Compiled, MAX_POLICIES, PolicyRejected};
#[doc(hidden)]
pub use decide::Question;
pub use decide::{Decision, Denial};
pub use facts::{CallFacts, Caller, ToolFacts, ToolHints};
pub use schema::SCHEMA;
