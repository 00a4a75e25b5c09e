//! The operator's choices about confinement (`--upstream-confinement`, the limits and
//! their maximums) and what one launch asks for within them.

use std::path::PathBuf;

use serde::Serialize;

use super::Caps;

/// How strictly process upstreams are confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every feature below is required; without one, process upstreams are refused.
    Strict,
    /// Whatever the kernel offers is applied; what is missing is reported, not required.
    BestEffort,
    /// Nothing is applied: for measuring what confinement costs, and for hosts where
    /// Guidepost itself runs in a sandbox made for it. Never the default.
    Off,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "strict" => Ok(Mode::Strict),
            "best-effort" => Ok(Mode::BestEffort),
            "off" => Ok(Mode::Off),
            other => Err(format!("{other:?} is not strict, best-effort or off")),
        }
    }
}

/// What one process upstream may use by default, and at most when its entry asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: u32,
    pub processes: u32,
    pub max_memory_mb: u32,
    pub max_processes: u32,
    /// The size of an upstream's own directory (0: unbounded), and the most an entry may
    /// ask for.
    pub disk_mb: u32,
    pub max_disk_mb: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mb: 512,
            processes: 64,
            max_memory_mb: 4096,
            max_processes: 512,
            disk_mb: 1024,
            max_disk_mb: 16384,
        }
    }
}

/// uids no account of the host uses, reserved for upstreams (`--upstream-uids`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidRange {
    pub first: u32,
    pub last: u32,
}

impl UidRange {
    pub fn contains(&self, uid: u32) -> bool {
        (self.first..=self.last).contains(&uid)
    }
}

impl std::str::FromStr for UidRange {
    type Err = String;

    /// `FIRST-LAST`, above the host's own accounts (1000 and up) and not 65534 (`nobody`).
    fn from_str(text: &str) -> Result<Self, String> {
        let (first, last) = text
            .split_once('-')
            .ok_or_else(|| format!("{text:?} is not FIRST-LAST"))?;
        let number = |n: &str| {
            n.trim()
                .parse::<u32>()
                .map_err(|_| format!("{n:?} is not a uid"))
        };
        let range = UidRange {
            first: number(first)?,
            last: number(last)?,
        };
        if range.first < 1000 || range.first > range.last || range.last == u32::MAX {
            return Err(format!(
                "{text:?}: the first uid must be at least 1000 and not past the last"
            ));
        }
        if range.contains(65534) {
            return Err(format!("{text:?} holds 65534, the user nobody"));
        }
        Ok(range)
    }
}

/// Open files, file size and CPU: the same for every upstream.
pub(crate) const OPEN_FILES: u64 = 1024;
pub(crate) const FILE_SIZE_BYTES: u64 = 1 << 30;
/// CPU seconds a process may use in all (rlimit). No hard CPU quota: one made every cold
/// start ~100 ms slower (a runtime's start is multi-threaded), and the cgroup's default
/// weight already shares the CPU fairly among upstreams under load.
pub(crate) const CPU_SECONDS: u64 = 24 * 3600;

/// The operator's choices about confinement.
#[derive(Debug, Clone)]
pub struct ConfinementOptions {
    pub mode: Mode,
    /// The user upstreams run as when Guidepost runs as root.
    pub user: String,
    /// A range of uids the operator reserved for Guidepost: each upstream then runs as
    /// one of its own (`confine/uids.rs`) instead of as `user`.
    pub uids: Option<UidRange>,
    pub limits: Limits,
    pub caps: Caps,
    /// Ports of the platform itself (its listener, its database): never reachable through
    /// the egress fence, even where private addresses are allowed.
    pub platform_ports: Vec<u16>,
}

impl Default for ConfinementOptions {
    fn default() -> Self {
        Self {
            mode: Mode::Strict,
            user: "nobody".into(),
            uids: None,
            limits: Limits::default(),
            caps: Caps::default(),
            platform_ports: Vec::new(),
        }
    }
}

/// What one launch asks for, from its entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct Declaration {
    pub network: guidepost_domain::Network,
    pub memory_mb: Option<u32>,
    pub processes: Option<u32>,
    pub disk_mb: Option<u32>,
    /// Read and execute: its package, its command, the entry's read paths.
    pub read: Vec<PathBuf>,
    /// Read and write besides its own directory: the entry's write paths.
    pub write: Vec<PathBuf>,
}
