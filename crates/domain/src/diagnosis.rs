//! Why an upstream failed, in words: what its status and logs name as the
//! cause, the line that names it, and what to do. Worked out by
//! `guidepost_core::upstreams::diagnosis` when the upstream is read; never stored.

use serde::{Deserialize, Serialize};
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

/// A fault of an upstream that Guidepost observed itself, as opposed to what the upstream
/// printed: produced where it is known (the gateway), stored beside the status's words
/// (`last_fault`), and matched by the diagnosis, so that rewording a message cannot
/// change what the dashboard says the cause is. Its text is the status's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UpstreamFault {
    /// The process or server did not answer the MCP handshake in time.
    #[error("no answer to initialize within {secs} s")]
    HandshakeTimeout { secs: u64 },
    /// The program could not be started; `missing` when it does not exist.
    #[error("cannot start {program} (confined): {error}")]
    CannotStart {
        program: String,
        missing: bool,
        error: String,
    },
}

impl UpstreamFault {
    /// The stored form: JSON with a `kind`.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the stored form back; a kind this build does not know reads as none, so
    /// that the words alone are diagnosed.
    pub fn from_stored(stored: &str) -> Option<Self> {
        serde_json::from_str(stored).ok()
    }
}
