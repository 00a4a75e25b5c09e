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

impl Refused {
    /// The fault the upstream's status keeps for an entry past the operator's maximums,
    /// in the same words; none for a node that cannot confine.
    pub fn fault(&self) -> Option<guidepost_domain::UpstreamFault> {
        let (asked, max, what, flag) = match self {
            Self::Incomplete { .. } => return None,
            Self::Memory { asked, max } => {
                (asked, max, "MiB of memory", "--upstream-max-memory-mb")
            }
            Self::Processes { asked, max } => (asked, max, "processes", "--upstream-max-processes"),
            Self::Disk { asked, max } => (asked, max, "MiB of disk", "--upstream-max-disk-mb"),
        };
        Some(guidepost_domain::UpstreamFault::OverMaximum {
            asked: *asked,
            max: *max,
            what: what.to_owned(),
            flag: flag.to_owned(),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_past_a_maximum_is_a_fault_in_the_same_words() {
        for refused in [
            Refused::Memory {
                asked: 4096,
                max: 1024,
            },
            Refused::Processes {
                asked: 500,
                max: 64,
            },
            Refused::Disk {
                asked: 9000,
                max: 1024,
            },
        ] {
            let fault = refused.fault().expect("a maximum passed is a fault");
            assert_eq!(fault.to_string(), refused.to_string());
        }
        let incomplete = Refused::Incomplete {
            missing: vec!["Landlock".into()],
        };
        assert!(
            incomplete.fault().is_none(),
            "the node's lack, not the entry's"
        );
    }
}
