//! Why an upstream failed, in words: what its status and logs name as the
//! cause, the line that names it, and what to do. Worked out by
//! `guidepost_core::upstreams::diagnosis` when the upstream is read; never stored.

use serde::Serialize;
use utoipa::ToSchema;

string_enum! {
    /// The kind of cause an upstream's failure was traced to.
    FailureCause {
        MissingModule => "missing_module",
        MissingProgram => "missing_program",
        Network => "network",
        HandshakeTimeout => "handshake_timeout",
        Exited => "exited",
        Unrecognized => "unrecognized",
    }
}

/// An upstream's failure explained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpstreamDiagnosis {
    pub cause: FailureCause,
    /// What went wrong, in a sentence.
    pub summary: String,
    /// The line of its last error or of this node's log that names the cause (secrets
    /// redacted, at most 500 characters); none when nothing names it.
    pub evidence: Option<String>,
    /// What to do about it, in a sentence or two.
    pub advice: String,
}
