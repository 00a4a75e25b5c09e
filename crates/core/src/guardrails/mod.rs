//! Guardrails at call time: what decides, when an agent calls a tool, whether the call
//! may go on. Today: the organization's call-time policies (`policies` to publish and
//! read them, `decide` on the hot path).

pub mod decide;
pub mod policies;
