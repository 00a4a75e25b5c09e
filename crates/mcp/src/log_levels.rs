//! The log level each session of a node asked for with `logging/setLevel`: the least
//! severe of the upstreams' log messages it gets (`caller_client`).

use std::collections::HashMap;
use std::sync::Mutex;

/// The most sessions whose log level a node remembers; past it, it forgets them all
/// (they get every message, as before they asked).
const MAX_LOG_LEVELS: usize = 10_000;

/// The log level each session of this node asked for with `logging/setLevel`.
#[derive(Debug, Default)]
pub(crate) struct LogLevels(Mutex<HashMap<String, u8>>);

impl LogLevels {
    pub fn set(&self, session: String, level: &str) {
        let mut levels = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if levels.len() >= MAX_LOG_LEVELS && !levels.contains_key(&session) {
            levels.clear();
        }
        levels.insert(session, severity(level));
    }

    pub fn get(&self, session: &str) -> Option<u8> {
        let levels = self.0.lock().unwrap_or_else(|e| e.into_inner());
        levels.get(session).copied()
    }
}

/// A log level's rank, least severe first (RFC 5424's order, as MCP uses it).
pub(crate) fn severity(level: &str) -> u8 {
    const ORDER: [&str; 8] = [
        "debug",
        "info",
        "notice",
        "warning",
        "error",
        "critical",
        "alert",
        "emergency",
    ];
    ORDER.iter().position(|l| *l == level).unwrap_or(0) as u8
}
