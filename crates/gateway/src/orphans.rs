//! Orphans of a node that died: every upstream process, and every child it
//! starts, carries `GUIDEPOST_UPSTREAM_OWNER={pid}.{start time}.{deployment}` of the node
//! that started it (containers carry it as a label). A node reaps, when it starts, every
//! marked process of its deployment (the nodes sharing its database) whose owner no longer
//! runs: a node killed with SIGKILL cannot stop its upstreams, and `npx`-style process
//! trees outlive their leader under PID 1. Another deployment's orphans on the same host
//! are its own to reap.
//!
//! Linux only (it reads `/proc`); elsewhere there is nothing to reap with.

use std::sync::OnceLock;

/// The environment variable every upstream process (and every child it starts) carries,
/// naming the node that started it: `{pid}.{start time}` of that node's process.
pub const OWNER_VARIABLE: &str = "GUIDEPOST_UPSTREAM_OWNER";

/// This node's owner marker: its pid and the start time the kernel gives it, so that a
/// reused pid is not taken for a live owner.
pub fn this_node() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        format!("{pid}.{}", start_time(pid).unwrap_or(0))
    })
}

/// The start time of `pid` in clock ticks since boot (field 22 of `/proc/{pid}/stat`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// The marker of what this node starts for `deployment`.
pub fn marker(deployment: &str) -> String {
    format!("{}.{deployment}", this_node())
}

/// Whether `marker` is of `deployment` and names an owner that no longer runs.
pub(crate) fn is_orphan(marker: &str, deployment: &str) -> bool {
    let mut parts = marker.splitn(3, '.');
    let (Some(pid), Some(started), Some(of)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    if of != deployment {
        return false;
    }
    match (pid.parse::<u32>(), started.parse::<u64>()) {
        (Ok(pid), Ok(started)) => start_time(pid) != Some(started),
        _ => false,
    }
}

/// The owner marker of a running process, if it has one.
pub fn owner_of(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{OWNER_VARIABLE}=");
    environ
        .split(|b| *b == 0)
        .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
        .map(|owner| String::from_utf8_lossy(owner).into_owned())
}

/// Every process that carries an owner marker, with it.
pub fn marked_processes() -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, owner_of(pid)?)))
        .collect()
}

/// Kills every marked process of `deployment` whose owner is gone; returns how many.
pub fn reap(deployment: &str) -> usize {
    let mut reaped = 0;
    for (pid, owner) in marked_processes() {
        if !is_orphan(&owner, deployment) {
            continue;
        }
        let Ok(pid) = i32::try_from(pid) else {
            continue;
        };
        // SAFETY: kill only sends a signal, to a process that carries our marker.
        if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
            reaped += 1;
        }
    }
    if reaped > 0 {
        tracing::warn!(
            reaped,
            "killed upstream processes left behind by a node that died"
        );
    }
    reaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_owner_of_the_same_deployment_leaves_orphans() {
        assert!(!is_orphan(&marker("abc"), "abc"), "this node runs");
        let pid = std::process::id();
        let reused = format!("{pid}.1.abc");
        assert!(
            is_orphan(&reused, "abc"),
            "same pid, another start: a reused pid"
        );
        assert!(
            !is_orphan(&format!("{pid}.1.xyz"), "abc"),
            "another deployment's"
        );
        assert!(!is_orphan("not a marker", "abc"));
    }
}
