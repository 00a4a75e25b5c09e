//! What process upstreams may reserve on one node: per organization and in all. A launch
//! reserves its limits (memory and processes, as its cgroup bounds them) before it
//! starts and gives them back when it stops, so the caps hold whatever the upstreams do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The caps, in MiB and processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub org_memory_mb: u64,
    pub org_processes: u64,
    pub node_memory_mb: u64,
    pub node_processes: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            org_memory_mb: 4096,
            org_processes: 512,
            node_memory_mb: 16384,
            node_processes: 4096,
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    memory_mb: u64,
    processes: u64,
}

#[derive(Debug, Default)]
struct Ledger {
    node: Usage,
    orgs: HashMap<String, Usage>,
}

/// A reservation refused: the cap it would pass, and the flag that sets it.
#[derive(Debug, thiserror::Error)]
#[error("the cap of {cap} {what} is reached ({flag}); stop or uninstall another upstream first")]
pub struct CapReached {
    cap: u64,
    what: &'static str,
    flag: &'static str,
}

impl CapReached {
    /// The fault the upstream's status keeps, in the same words.
    pub fn fault(&self) -> guidepost_domain::UpstreamFault {
        guidepost_domain::UpstreamFault::CapReached {
            cap: self.cap,
            what: self.what.to_owned(),
            flag: self.flag.to_owned(),
        }
    }
}

/// The node's ledger.
#[derive(Debug, Clone)]
pub struct Budget {
    caps: Caps,
    ledger: Arc<Mutex<Ledger>>,
}

/// A launch's share; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    ledger: Arc<Mutex<Ledger>>,
    org: String,
    usage: Usage,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut ledger = self.ledger.lock().expect("budget lock");
        ledger.node.memory_mb -= self.usage.memory_mb;
        ledger.node.processes -= self.usage.processes;
        if let Some(org) = ledger.orgs.get_mut(&self.org) {
            org.memory_mb -= self.usage.memory_mb;
            org.processes -= self.usage.processes;
            if org.memory_mb == 0 && org.processes == 0 {
                ledger.orgs.remove(&self.org);
            }
        }
    }
}

impl Budget {
    pub fn new(caps: Caps) -> Self {
        Self {
            caps,
            ledger: Arc::default(),
        }
    }

    /// Reserves `memory_mb` and `processes` for `org`, or says which cap it would pass.
    pub fn reserve(
        &self,
        org: &str,
        memory_mb: u32,
        processes: u32,
    ) -> Result<Reservation, CapReached> {
        let usage = Usage {
            memory_mb: memory_mb.into(),
            processes: processes.into(),
        };
        let mut ledger = self.ledger.lock().expect("budget lock");
        let of_org = ledger.orgs.get(org).copied().unwrap_or_default();
        let checks = [
            (
                of_org.memory_mb + usage.memory_mb,
                self.caps.org_memory_mb,
                "MiB of upstream memory for one organization on this node",
                "--upstream-org-memory-mb",
            ),
            (
                of_org.processes + usage.processes,
                self.caps.org_processes,
                "upstream processes for one organization on this node",
                "--upstream-org-processes",
            ),
            (
                ledger.node.memory_mb + usage.memory_mb,
                self.caps.node_memory_mb,
                "MiB of upstream memory on this node",
                "--upstream-node-memory-mb",
            ),
            (
                ledger.node.processes + usage.processes,
                self.caps.node_processes,
                "upstream processes on this node",
                "--upstream-node-processes",
            ),
        ];
        for (wanted, cap, what, flag) in checks {
            if wanted > cap {
                return Err(CapReached { cap, what, flag });
            }
        }
        ledger.node.memory_mb += usage.memory_mb;
        ledger.node.processes += usage.processes;
        let entry = ledger.orgs.entry(org.to_owned()).or_default();
        entry.memory_mb += usage.memory_mb;
        entry.processes += usage.processes;
        Ok(Reservation {
            ledger: self.ledger.clone(),
            org: org.to_owned(),
            usage,
        })
    }

    /// Whether a reservation would pass now (an install's check before it starts).
    pub fn would_admit(&self, org: &str, memory_mb: u32, processes: u32) -> Result<(), CapReached> {
        self.reserve(org, memory_mb, processes).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_organization_past_its_cap_is_refused_and_others_are_not() {
        let budget = Budget::new(Caps {
            org_memory_mb: 1000,
            org_processes: 100,
            node_memory_mb: 1500,
            node_processes: 1000,
        });
        let first = budget.reserve("acme", 600, 10).unwrap();
        let cap = budget.reserve("acme", 600, 10).unwrap_err();
        assert_eq!(
            cap.fault().to_string(),
            cap.to_string(),
            "the status keeps its words"
        );
        let refused = cap.to_string();
        assert!(
            refused.contains("1000 MiB") && refused.contains("--upstream-org-memory-mb"),
            "{refused}"
        );
        let other = budget.reserve("globex", 600, 10).unwrap();
        let node = budget.reserve("initech", 600, 10).unwrap_err().to_string();
        assert!(node.contains("--upstream-node-memory-mb"), "{node}");
        drop(first);
        budget
            .reserve("acme", 600, 10)
            .expect("given back when stopped");
        drop(other);
        let processes = budget.reserve("acme", 10, 101).unwrap_err().to_string();
        assert!(
            processes.contains("--upstream-org-processes"),
            "{processes}"
        );
    }
}
