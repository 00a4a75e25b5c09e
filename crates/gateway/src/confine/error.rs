//! What confinement answers when it refuses a process upstream, or cannot prepare one.

use std::path::PathBuf;

use super::cgroup::CgroupError;
use super::child::AccessError;
use super::disk::DiskError;
use super::egress::EgressError;
use super::landlock::LandlockError;
use super::uids::UidError;

/// Why a process upstream is refused on this node before anything is prepared for it:
/// what the node lacks in strict mode, or an entry that asks past the operator's
/// maximums.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(
        "process upstreams are refused on this node: it lacks {}; \
         --upstream-confinement=best-effort accepts weaker confinement",
        .missing.join("; ")
    )]
    Incomplete { missing: Vec<String> },
    #[error(
        "its entry asks for {asked} MiB of memory; this platform allows at most {max} (--upstream-max-memory-mb)"
    )]
    Memory { asked: u32, max: u32 },
    #[error(
        "its entry asks for {asked} processes; this platform allows at most {max} (--upstream-max-processes)"
    )]
    Processes { asked: u32, max: u32 },
    #[error(
        "its entry asks for {asked} MiB of disk; this platform allows at most {max} (--upstream-max-disk-mb)"
    )]
    Disk { asked: u32, max: u32 },
}

/// Why a process could not be confined: refused, or a step of its preparation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Uid(#[from] UidError),
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    #[error(transparent)]
    Landlock(#[from] LandlockError),
    #[error(transparent)]
    Egress(#[from] EgressError),
    #[error("{} has a NUL byte", .0.display())]
    NulInPath(PathBuf),
}
