//! Guardrails at call time: what decides, when an agent calls a tool, whether the call
//! may go on: the organization's call-time policies (`policies` to publish and read them,
//! `decide` on the hot path), then its quotas (`quotas`), counted only for calls the
//! policies let through.

pub mod decide;
pub mod policies;
pub mod quotas;
