//! Guardrails at call time: what decides, when an agent calls a tool, whether the call
//! may go on: the organization's interceptors first (`interceptors` to register them,
//! `intercept` to ask them; they may rewrite the arguments), then its call-time policies
//! (`policies` to publish and read them, `decide` on the hot path), then its quotas
//! (`quotas`), counted only for calls the policies let through. Interceptors are asked
//! again on the result.

mod approval_mail;
pub mod approvals;
pub mod decide;
pub mod intercept;
pub mod intercept_definitions;
pub mod interceptors;
pub mod policies;
pub mod quotas;
