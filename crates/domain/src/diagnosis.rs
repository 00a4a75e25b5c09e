//! Why an upstream failed, in words: what its status and logs name as the
//! cause, the line that names it, and what to do. Worked out by
//! `guidepost_core::upstreams::diagnosis` when the upstream is read; never stored.

use std::time::Duration;

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
        Unresponsive => "unresponsive",
        Limits => "limits",
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
    /// Its process ended: with `code`, or killed by `signal`; neither when its end was
    /// not seen (a container, a process already reaped).
    #[error("the upstream process exited{}", ended(*code, *signal))]
    Exited {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The MCP handshake over its stdio failed, as `error` says; `code` or `signal` when
    /// its process ended meanwhile.
    #[error("the MCP handshake failed: {error}{}", ended(*code, *signal))]
    HandshakeFailed {
        error: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// The MCP handshake with a remote server failed.
    #[error("the MCP handshake with {url} failed: {error}")]
    RemoteHandshakeFailed { url: String, error: String },
    /// A running upstream answered a ping with an error.
    #[error("ping failed: {error}")]
    PingFailed { error: String },
    /// A running upstream did not answer a ping in time.
    #[error("no answer to ping within {} s", Duration::from_millis(*millis).as_secs_f64())]
    PingTimeout { millis: u64 },
    /// Its entry asks for more memory, processes or disk (`what`, with its unit) than the
    /// operator allows (`flag`).
    #[error("its entry asks for {asked} {what}; this platform allows at most {max} ({flag})")]
    OverMaximum {
        asked: u32,
        max: u32,
        what: String,
        flag: String,
    },
    /// Starting it would pass a cap on what the upstreams use together (`flag`).
    #[error(
        "the cap of {cap} {what} is reached ({flag}); stop or uninstall another upstream first"
    )]
    CapReached {
        cap: u64,
        what: String,
        flag: String,
    },
    /// Nobody called it for its idle timeout, so this node stopped it: not a failure.
    #[error("stopped on this node after its idle timeout; the next call starts it")]
    StoppedIdle,
}

/// How a process ended, in words, after what it was doing: " (it exited with code 1)".
fn ended(code: Option<i32>, signal: Option<i32>) -> String {
    match (code, signal) {
        (Some(code), _) => format!(" (it exited with code {code})"),
        (None, Some(signal)) => format!(" (it was killed by signal {signal})"),
        (None, None) => String::new(),
    }
}

impl UpstreamFault {
    /// An exit seen before how the process ended was read.
    pub const EXITED: Self = Self::Exited {
        code: None,
        signal: None,
    };

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
