//! A cgroup per process upstream, below Guidepost's own: its memory, processes and CPU
//! bound the whole tree, a stop kills every process in it (a child that double-forks and
//! calls `setsid()` is still inside), and a node that starts finds what a dead node left
//! by the cgroup's name (`{node}/{upstream}.{launch}`), which no process inside can
//! change.
//!
//! Both layouts are handled: cgroup v1 (one hierarchy per controller, as on hybrid hosts)
//! and v2 (one unified hierarchy; controllers enabled level by level below our own).

use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::path_error::PathError;

const ROOT: &str = "/sys/fs/cgroup";

/// Where this node makes upstreams' cgroups.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    v2: bool,
    /// One directory per hierarchy (v1: pids, memory, cpu if mounted; v2: one), each
    /// `{our cgroup}/guidepost-upstreams/{deployment}`. The first is where processes are
    /// listed.
    bases: Vec<PathBuf>,
}

/// Why cgroups cannot be used here, or an upstream's cgroup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("no {0} cgroup in /proc/self/cgroup")]
    NoV1Controller(&'static str),
    #[error("no cgroup v1 pids and memory hierarchies, and no cgroup v2")]
    NoHierarchy(#[source] std::io::Error),
    #[error("cgroup v2 offers no {0} controller")]
    NoV2Controller(&'static str),
    #[error("no cgroup v2 entry in /proc/self/cgroup")]
    NoV2Entry,
    #[error("no guidepost-upstreams directory")]
    NoUpstreamsDirectory,
    #[error(transparent)]
    OutsideOwn(#[from] std::path::StripPrefixError),
    #[error("cannot enable the memory and pids controllers in {}: {source}", control.display())]
    EnableControllers {
        control: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no {0} in the upstream's cgroup")]
    NoLimitFile(&'static str),
}

/// One upstream's cgroup, in every hierarchy.
#[derive(Debug)]
pub struct Cgroup {
    v2: bool,
    dirs: Vec<PathBuf>,
}

impl Hierarchy {
    /// Finds our own cgroups and checks that a directory can be made below them.
    pub fn detect(deployment: &str) -> Result<Self, CgroupError> {
        let own = fs::read_to_string("/proc/self/cgroup")
            .map_err(PathError::on("cannot read", "/proc/self/cgroup"))?;
        let v1 = Path::new(ROOT).join("pids/cgroup.procs").exists()
            && Path::new(ROOT).join("memory/cgroup.procs").exists();
        let hierarchy = if v1 {
            let mut bases = Vec::new();
            for controller in ["pids", "memory", "cpu"] {
                let Some(path) = own_path(&own, Some(controller)) else {
                    if controller == "cpu" {
                        continue;
                    }
                    return Err(CgroupError::NoV1Controller(controller));
                };
                bases.push(base_dir(
                    &Path::new(ROOT).join(controller),
                    &path,
                    deployment,
                ));
            }
            Hierarchy { v2: false, bases }
        } else {
            let controllers = fs::read_to_string(Path::new(ROOT).join("cgroup.controllers"))
                .map_err(CgroupError::NoHierarchy)?;
            for needed in ["memory", "pids"] {
                if !controllers.split_whitespace().any(|c| c == needed) {
                    return Err(CgroupError::NoV2Controller(needed));
                }
            }
            let path = own_path(&own, None).ok_or(CgroupError::NoV2Entry)?;
            Hierarchy {
                v2: true,
                bases: vec![base_dir(Path::new(ROOT), &path, deployment)],
            }
        };
        for base in &hierarchy.bases {
            fs::create_dir_all(base).map_err(PathError::on("cannot create", base))?;
        }
        if hierarchy.v2 {
            hierarchy.enable_controllers(&hierarchy.bases[0])?;
        }
        Ok(hierarchy)
    }

    pub fn version(&self) -> &'static str {
        if self.v2 { "v2" } else { "v1" }
    }

    /// On v2, a cgroup's controllers must be enabled in every parent's subtree, from our
    /// own cgroup down.
    fn enable_controllers(&self, down_to: &Path) -> Result<(), CgroupError> {
        let own = down_to
            .ancestors()
            .find(|dir| dir.file_name().is_some_and(|n| n == "guidepost-upstreams"))
            .and_then(Path::parent)
            .ok_or(CgroupError::NoUpstreamsDirectory)?;
        let mut dir = own.to_path_buf();
        let relative = down_to.strip_prefix(own)?;
        for part in std::iter::once(None).chain(relative.components().map(Some)) {
            if let Some(part) = part {
                dir.push(part);
            }
            if dir == down_to {
                break;
            }
            let control = dir.join("cgroup.subtree_control");
            if let Err(source) = write_file(&control, "+memory +pids") {
                return Err(CgroupError::EnableControllers { control, source });
            }
            // CPU is a bonus where the kernel offers it.
            let _ = write_file(&control, "+cpu");
        }
        Ok(())
    }

    /// Makes `{node}/{upstream}.{launch}` with its limits: each launch its own, since
    /// two supervisors of one process (tests run several nodes in one) may run the same
    /// upstream at once.
    pub fn create(
        &self,
        node: &str,
        upstream: &str,
        memory_mb: u32,
        processes: u32,
    ) -> Result<Cgroup, CgroupError> {
        static LAUNCHES: AtomicU64 = AtomicU64::new(0);
        let name = format!("{upstream}.{}", LAUNCHES.fetch_add(1, Ordering::Relaxed));
        let mut dirs = Vec::new();
        for base in &self.bases {
            let dir = base.join(node).join(&name);
            fs::create_dir_all(&dir).map_err(PathError::on("cannot create", &dir))?;
            dirs.push(dir);
        }
        if self.v2 {
            self.enable_controllers(&dirs[0])?;
        }
        let cgroup = Cgroup { v2: self.v2, dirs };
        cgroup.limit(memory_mb, processes)?;
        Ok(cgroup)
    }

    /// Removes this node's directory once its upstreams' cgroups are gone (a graceful
    /// stop), so that nothing is left behind; one still in use stays.
    pub fn remove_node(&self, node: &str) {
        for base in &self.bases {
            let _ = fs::remove_dir(base.join(node));
        }
    }

    /// Kills what dead nodes left (`is_dead(node)`), and removes their cgroups.
    pub fn reap_orphans(&self, is_dead: impl Fn(&str) -> bool) -> usize {
        let mut reaped = 0;
        let Ok(nodes) = fs::read_dir(&self.bases[0]) else {
            return 0;
        };
        for node in nodes.flatten() {
            let name = node.file_name().to_string_lossy().into_owned();
            if !node.path().is_dir() || !is_dead(&name) {
                continue;
            }
            let upstreams: Vec<PathBuf> = fs::read_dir(node.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect();
            for dir in upstreams {
                let upstream = dir.file_name().unwrap_or_default().to_owned();
                let cgroup = Cgroup {
                    v2: self.v2,
                    dirs: self
                        .bases
                        .iter()
                        .map(|b| b.join(&name).join(&upstream))
                        .collect(),
                };
                reaped += cgroup.kill_now();
                cgroup.remove();
            }
            for base in &self.bases {
                let _ = fs::remove_dir(base.join(&name));
            }
        }
        reaped
    }
}

/// `{mount}/{our cgroup}/guidepost-upstreams/{deployment}`.
fn base_dir(mount: &Path, own: &str, deployment: &str) -> PathBuf {
    mount
        .join(own.trim_start_matches('/'))
        .join("guidepost-upstreams")
        .join(deployment)
}

/// Our cgroup's path in the hierarchy of `controller` (v1), or the unified one (v2).
fn own_path(proc_self_cgroup: &str, controller: Option<&str>) -> Option<String> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = match controller {
            Some(wanted) => controllers.split(',').any(|c| c == wanted),
            None => controllers.is_empty(),
        };
        matches.then(|| path.to_owned())
    })
}

fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(text.as_bytes())
}

impl Cgroup {
    fn limit(&self, memory_mb: u32, processes: u32) -> Result<(), CgroupError> {
        let bytes = u64::from(memory_mb) * 1024 * 1024;
        let settings: Vec<(&str, String, bool)> = if self.v2 {
            vec![
                ("memory.max", bytes.to_string(), true),
                ("memory.swap.max", "0".into(), false),
                ("pids.max", processes.to_string(), true),
            ]
        } else {
            vec![
                ("memory.limit_in_bytes", bytes.to_string(), true),
                ("memory.memsw.limit_in_bytes", bytes.to_string(), false),
                ("pids.max", processes.to_string(), true),
            ]
        };
        for (file, value, required) in settings {
            let Some(dir) = self.dirs.iter().find(|d| d.join(file).exists()) else {
                if required {
                    return Err(CgroupError::NoLimitFile(file));
                }
                continue;
            };
            let path = dir.join(file);
            if let Err(source) = write_file(&path, &value)
                && required
            {
                return Err(PathError::new("cannot write", path, source).into());
            }
        }
        Ok(())
    }

    /// The files the child writes `0` to, to join every hierarchy before exec. On v1
    /// that is `tasks`, which moves only the writing thread: between fork and exec the
    /// child has one thread, so that moves the whole process, and it spares the kernel's
    /// global threadgroup lock, whose first taking after a pause waits for an RCU grace
    /// period (6–15 ms here through `cgroup.procs`, 0.07 ms through `tasks`: most of
    /// what confinement added to a cold start). Everything the process forks later is
    /// born inside.
    pub fn join_handles(&self) -> Result<Vec<OwnedFd>, CgroupError> {
        let file = if self.v2 { "cgroup.procs" } else { "tasks" };
        let handles = self
            .dirs
            .iter()
            .map(|dir| {
                let path = dir.join(file);
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(OwnedFd::from)
                    .map_err(PathError::on("cannot open", &path))
            })
            .collect::<Result<_, _>>()?;
        Ok(handles)
    }

    /// The processes in it now.
    pub fn pids(&self) -> Vec<i32> {
        fs::read_to_string(self.dirs[0].join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect()
    }

    /// SIGKILL to every process in it until none is left (a fork between a read and the
    /// kills is caught by the next round; `pids.max` bounds how many there can be).
    /// Returns how many were killed.
    pub fn kill_now(&self) -> usize {
        let mut killed = 0;
        if self.v2 && write_file(&self.dirs[0].join("cgroup.kill"), "1").is_ok() {
            return self.pids().len();
        }
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                // SAFETY: kill only sends a signal, to a process in the upstream's cgroup.
                if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                    killed += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        killed
    }

    /// Kills everything in it and waits (bounded) until it is empty, then removes it.
    pub async fn stop(&self) {
        for _ in 0..250 {
            self.kill_now();
            if self.pids().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.remove();
    }

    /// Removes the directories (only possible once empty; the next launch or a node's
    /// start removes a leftover).
    pub fn remove(&self) {
        for dir in &self.dirs {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_cgroup_is_read_per_controller_and_unified() {
        let text =
            "9:name=systemd:/\n8:pids:/a\n4:memory:/process_api/x\n1:cpu,cpuacct:/c\n0::/u\n";
        assert_eq!(own_path(text, Some("pids")).as_deref(), Some("/a"));
        assert_eq!(
            own_path(text, Some("memory")).as_deref(),
            Some("/process_api/x")
        );
        assert_eq!(own_path(text, Some("cpu")).as_deref(), Some("/c"));
        assert_eq!(own_path(text, None).as_deref(), Some("/u"));
        assert_eq!(
            base_dir(Path::new("/sys/fs/cgroup/memory"), "/process_api/x", "d1"),
            PathBuf::from("/sys/fs/cgroup/memory/process_api/x/guidepost-upstreams/d1")
        );
    }
}
