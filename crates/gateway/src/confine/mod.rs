//! Confinement of process upstreams (npm, PyPI, the operator's commands): what a package
//! can reach is its own directory, its runtime, its package and what its entry declares.
//!
//! Between fork and exec (`child.rs`) every process upstream joins a cgroup of its own
//! (`cgroup.rs`: memory, processes and CPU for the whole tree, which is also how a stop
//! kills everything it forked and how a restarted node finds a dead node's leftovers),
//! enters a network namespace of its own, takes rlimits, drops to an unprivileged user
//! when Guidepost runs as root, and restricts itself with Landlock (`landlock.rs`: files,
//! TCP, signals) and a seccomp filter (`seccomp.rs`: the few system calls Landlock does
//! not cover here, such as connecting to a Unix socket by path). An entry that declares
//! `network` reaches out only through the egress fence (`egress.rs`), a proxy that
//! Guidepost runs inside the upstream's namespace. `budget.rs` caps what one organization,
//! and the node, may reserve.
//!
//! Where the kernel lacks a feature, process upstreams are refused (`Mode::Strict`)
//! unless the operator accepts weaker confinement (`Mode::BestEffort`); they never run
//! unconfined without being told.

mod budget;
mod cgroup;
mod child;
mod disk;
mod egress;
mod error;
mod landlock;
mod options;
mod places;
mod seccomp;
mod uids;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use budget::Caps;
pub(crate) use budget::{Budget, Reservation};
pub(crate) use cgroup::Cgroup;
pub(crate) use disk::{Attached as AttachedDisk, image_of};
pub(crate) use egress::{Egress, EgressError, Fence, proxy_url};
pub(crate) use error::{ConfineError, Refused};

/// The variables that name the egress fence in an upstream's environment.
pub(crate) const PROXY_VARIABLES: [&str; 5] = [
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "ALL_PROXY",
];
use guidepost_domain::Network;
pub(crate) use landlock::{located, runtime_dirs};
pub(crate) use options::{CPU_SECONDS, Declaration, FILE_SIZE_BYTES, OPEN_FILES};
pub use options::{ConfinementOptions, Limits, Mode, UidRange};
pub use places::make_reachable;
use serde::Serialize;

use crate::fetch::toolchain::Toolchain;

/// What this node found it can enforce, shown by `/readyz` and in upstreams' statuses.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: Mode,
    /// Whether every promise of SECURITY.md holds on this node.
    pub complete: bool,
    /// The Landlock ABI the kernel offers (0: none).
    pub landlock_abi: i32,
    /// `v1`, `v2`, or `none` (not writable).
    pub cgroups: String,
    pub network_namespaces: bool,
    pub seccomp: bool,
    /// The user upstreams run as (`null`: Guidepost's own, which is not root).
    pub user: Option<String>,
    /// Whether each upstream's directory is a file system of its own, of bounded size.
    pub disk_quota: bool,
    /// What is missing, and what that leaves open.
    pub missing: Vec<String>,
}

/// The node's confinement: what the kernel offers, found once at start.
pub struct Confiner {
    options: ConfinementOptions,
    landlock_abi: i32,
    cgroups: Result<cgroup::Hierarchy, cgroup::CgroupError>,
    network_namespaces: bool,
    seccomp: bool,
    /// The seccomp filters, built once: every launch installs the same ones.
    filters: Vec<seccompiler::BpfProgram>,
    /// uid and gid to drop to (when Guidepost runs as root).
    identity: Result<Option<(u32, u32)>, child::UserError>,
    disks: disk::Disks,
    /// A uid of its own for each upstream, when the operator reserved a range.
    uids: Option<uids::Uids>,
    /// Read and execute for every upstream: the runtimes and the system's libraries.
    system_read: Vec<PathBuf>,
    /// Why the upstream user cannot reach the upstreams' directories or packages, if it
    /// cannot (after `places::make_reachable`).
    out_of_reach: Option<child::AccessError>,
    budget: Budget,
}

/// What one confined process is given.
struct Plan<'a> {
    /// Its cgroup's name (before the launch number).
    name: &'a str,
    memory_mb: u32,
    processes: u32,
    /// Directories given to the upstream user.
    owned: Vec<PathBuf>,
    /// Read and execute besides the system's and the runtimes'.
    read: Vec<PathBuf>,
    /// Read and write.
    write: Vec<PathBuf>,
    /// Its way out, if any: an egress fence.
    fence: Option<egress::Fence>,
    /// Its directory's own file system, mounted over `owned[0]`.
    disk: Option<Arc<disk::Attached>>,
    /// The uid and gid it runs as (when Guidepost is root).
    identity: Option<(u32, u32)>,
}

/// The two processes a PID namespace adds to a tree (`child::isolate`).
const NAMESPACE_HELPERS: u32 = 2;
/// What an installer may use: npm resolving a large tree takes a few hundred MiB.
const INSTALL_MEMORY_MB: u32 = 1024;
const INSTALL_PROCESSES: u32 = 128;

/// The smallest directory: ext4's own structures take about 1 MiB of it.
const MIN_DISK_MB: u32 = 8;

/// Landlock ABI 6: files, TCP, and scoping of signals and abstract Unix sockets.
const LANDLOCK_NEEDED: i32 = 6;

impl Confiner {
    /// Looks at what the machine offers.
    pub fn detect(options: ConfinementOptions, toolchain: &Toolchain, deployment: &str) -> Self {
        let landlock_abi = landlock::abi();
        let cgroups = cgroup::Hierarchy::detect(deployment);
        let is_root = unsafe { libc::geteuid() } == 0;
        let identity = if is_root {
            child::lookup_user(&options.user).map(Some)
        } else {
            Ok(None)
        };
        let system_read = landlock::system_paths(toolchain);
        let budget = Budget::new(options.caps);
        let filters = seccomp::filters();
        if let Err(error) = &filters {
            tracing::warn!(%error, "no seccomp filter for upstreams");
        }
        let out_of_reach = match &identity {
            Ok(Some((uid, gid))) if options.mode != Mode::Off => {
                [&toolchain.data_dir, &toolchain.cache_dir]
                    .into_iter()
                    .find_map(|place| places::unreachable(place, *uid, *gid))
            }
            _ => None,
        };
        Self {
            out_of_reach,
            disks: disk::Disks::detect(is_root),
            uids: options.uids.filter(|_| is_root).map(uids::Uids::new),
            landlock_abi,
            cgroups,
            network_namespaces: is_root,
            seccomp: seccomp::available() && filters.is_ok(),
            filters: filters.unwrap_or_default(),
            identity,
            system_read,
            budget,
            options,
        }
    }

    pub fn options(&self) -> &ConfinementOptions {
        &self.options
    }

    pub(crate) fn budget(&self) -> &Budget {
        &self.budget
    }

    /// What is in force on this node.
    pub fn report(&self) -> Report {
        let mut missing = Vec::new();
        if self.options.mode == Mode::Off {
            missing.push("confinement is off (--upstream-confinement=off)".into());
        }
        if self.landlock_abi < LANDLOCK_NEEDED {
            missing.push(format!(
                "Landlock ABI {LANDLOCK_NEEDED} (the kernel offers {}): files, TCP and signals are not fenced",
                self.landlock_abi
            ));
        }
        if let Err(why) = &self.cgroups {
            missing.push(format!(
                "writable cgroups ({why}): memory and processes are bounded per process only, and a stop may leave a daemonized child"
            ));
        }
        if !self.network_namespaces {
            missing.push(
                "network namespaces (Guidepost is not root): no-network is enforced for TCP only, and network entries are not fenced"
                    .into(),
            );
        }
        if !self.seccomp {
            missing.push("seccomp: Unix sockets by path are reachable".into());
        }
        if let Err(why) = &self.identity {
            missing.push(format!("the upstream user ({why})"));
        }
        if let Some(why) = self.disks.unavailable()
            && self.options.limits.disk_mb > 0
        {
            missing.push(format!(
                "disk quotas ({why}): an upstream's directory is bounded by the host's disk only \
                 (--upstream-disk-mb=0 accepts that)"
            ));
        }
        if let Some(why) = &self.out_of_reach {
            missing.push(format!(
                "a place for upstreams the upstream user can reach ({why}; --upstream-data and --upstream-cache name them)"
            ));
        }
        Report {
            mode: self.options.mode,
            complete: missing.is_empty(),
            landlock_abi: self.landlock_abi,
            cgroups: match &self.cgroups {
                Ok(hierarchy) => hierarchy.version().into(),
                Err(_) => "none".into(),
            },
            network_namespaces: self.network_namespaces,
            seccomp: self.seccomp,
            user: match (&self.identity, self.options.uids) {
                (Ok(Some(_)), Some(range)) if self.uids.is_some() => Some(format!(
                    "a uid of its own in {}-{}",
                    range.first, range.last
                )),
                (Ok(Some(_)), _) => Some(self.options.user.clone()),
                _ => None,
            },
            disk_quota: self.disks.unavailable().is_none() && self.options.limits.disk_mb > 0,
            missing,
        }
    }

    /// Whether process upstreams may start here; in strict mode, what is missing refuses
    /// them with the flag that would accept it.
    pub(crate) fn admit(&self) -> Result<(), Refused> {
        let report = self.report();
        if report.complete || self.options.mode != Mode::Strict {
            return Ok(());
        }
        Err(Refused::Incomplete {
            missing: report.missing,
        })
    }

    /// The limits a declaration gets, within the operator's maximums.
    pub(crate) fn limits_of(&self, declaration: &Declaration) -> Result<(u32, u32), Refused> {
        let limits = &self.options.limits;
        let memory = declaration.memory_mb.unwrap_or(limits.memory_mb);
        let processes = declaration.processes.unwrap_or(limits.processes);
        if memory > limits.max_memory_mb {
            return Err(Refused::Memory {
                asked: memory,
                max: limits.max_memory_mb,
            });
        }
        if processes > limits.max_processes {
            return Err(Refused::Processes {
                asked: processes,
                max: limits.max_processes,
            });
        }
        Ok((memory.max(16), processes.max(2)))
    }

    /// The size of a declaration's directory in MiB (0: unbounded), within the operator's
    /// maximum. An entry cannot lift the bound the operator set.
    pub(crate) fn disk_of(&self, declaration: &Declaration) -> Result<u32, Refused> {
        let limits = &self.options.limits;
        if limits.disk_mb == 0 {
            return Ok(0);
        }
        let disk = declaration.disk_mb.unwrap_or(limits.disk_mb);
        if disk > limits.max_disk_mb {
            return Err(Refused::Disk {
                asked: disk,
                max: limits.max_disk_mb,
            });
        }
        // ext4 needs a few MiB for itself.
        Ok(disk.max(MIN_DISK_MB))
    }

    /// What a process launched with `declaration` gets here, in a line.
    pub(crate) fn describe(&self, declaration: &Declaration) -> String {
        let report = self.report();
        if self.options.mode == Mode::Off {
            return "off: runs unconfined (--upstream-confinement=off)".into();
        }
        let mut parts = Vec::new();
        if report.landlock_abi > 0 {
            parts.push(format!(
                "Landlock ABI {} (files, TCP, signals)",
                report.landlock_abi
            ));
        }
        match self.limits_of(declaration) {
            Ok((memory, processes)) if report.cgroups != "none" => parts.push(format!(
                "cgroup {} ({memory} MiB, {processes} processes)",
                report.cgroups
            )),
            Ok((memory, processes)) => {
                parts.push(format!("rlimits ({memory} MiB, {processes} processes)"))
            }
            Err(why) => parts.push(why.to_string()),
        }
        parts.push(match (&declaration.network, report.network_namespaces) {
            (Network::None, true) => "no network (own namespace)".into(),
            (Network::None, false) => "no TCP (Landlock)".into(),
            (Network::Open, true) => "network through the egress fence".into(),
            (Network::Only(hosts), true) => format!(
                "network through the egress fence, to {} only",
                hosts.join(", ")
            ),
            (Network::Open | Network::Only(_), false) => "network unfenced (no namespaces)".into(),
        });
        if report.network_namespaces {
            parts.push("own PID and IPC namespaces".into());
        }
        match self.disk_of(declaration) {
            Ok(disk) if report.disk_quota => parts.push(format!("disk {disk} MiB")),
            Ok(_) => {}
            Err(why) => parts.push(why.to_string()),
        }
        if report.seccomp {
            parts.push("seccomp".into());
        }
        if let Some(user) = &report.user {
            parts.push(format!("as {user}"));
        }
        let mode = if report.complete {
            "strict"
        } else {
            "best-effort"
        };
        format!("{mode}: {}", parts.join(", "))
    }

    /// Everything a process needs to be confined, prepared before the fork: its cgroup
    /// (created), its Landlock ruleset, its seccomp filter, its rlimits and its user.
    pub(crate) fn prepare(
        &self,
        upstream: &str,
        program: &Path,
        workdir: &Path,
        declaration: &Declaration,
        allow_private: bool,
    ) -> Result<Prepared, ConfineError> {
        self.admit()?;
        let (memory_mb, processes) = self.limits_of(declaration)?;
        let disk_mb = self.disk_of(declaration)?;
        if self.options.mode == Mode::Off {
            return Ok(Prepared::unconfined());
        }
        let identity = match (&self.uids, self.identity()) {
            (Some(uids), Some(_)) => Some(uids.of(workdir)?),
            (_, shared) => shared,
        };
        let disk = match self.disks.unavailable() {
            None if disk_mb > 0 => Some(self.disks.attach(workdir, disk_mb, identity)?),
            _ => None,
        };
        let program = landlock::located(program);
        let mut write = vec![workdir.to_path_buf()];
        write.extend(declaration.write.iter().cloned());
        let mut read = declaration.read.clone();
        read.push(program);
        let ports = self.options.platform_ports.clone();
        let fence = match &declaration.network {
            Network::None => None,
            Network::Open => Some(egress::Fence::open(allow_private, ports)),
            Network::Only(hosts) => {
                Some(egress::Fence::open(allow_private, ports).limited_to(hosts.clone()))
            }
        };
        self.confine(Plan {
            name: upstream,
            memory_mb,
            processes,
            owned: vec![workdir.to_path_buf()],
            read,
            write,
            fence,
            disk,
            identity,
        })
    }

    /// The confinement of an installer (npm, pip) fetching into `target`, with `scratch`
    /// as its HOME and TMPDIR: the same as an upstream's, with the network only through
    /// the egress fence and only to `registries` (host names, the operator's: private
    /// addresses allowed for them, the platform's own ports never). `read` is the
    /// installer's own installation and the files its configuration names.
    pub(crate) fn prepare_install(
        &self,
        target: &Path,
        scratch: &Path,
        read: Vec<PathBuf>,
        registries: Vec<String>,
    ) -> Result<Prepared, ConfineError> {
        self.admit()?;
        if self.options.mode == Mode::Off {
            return Ok(Prepared::unconfined());
        }
        let dirs = vec![target.to_path_buf(), scratch.to_path_buf()];
        let fence = egress::Fence::only(registries, self.options.platform_ports.clone());
        self.confine(Plan {
            name: "install",
            memory_mb: INSTALL_MEMORY_MB,
            processes: INSTALL_PROCESSES,
            owned: dirs.clone(),
            read,
            write: dirs,
            fence: Some(fence),
            disk: None,
            identity: self.identity(),
        })
    }

    /// The uid and gid to drop to, if Guidepost is root and found the upstream user.
    fn identity(&self) -> Option<(u32, u32)> {
        self.identity.as_ref().ok().copied().flatten()
    }

    /// Prepares `plan`: gives its directories to the upstream user, makes its cgroup,
    /// ruleset, namespaces and filters.
    fn confine(&self, plan: Plan<'_>) -> Result<Prepared, ConfineError> {
        let identity = plan.identity;
        if let Some((uid, gid)) = identity {
            for dir in &plan.owned {
                child::give_directory(dir, uid, gid)?;
            }
            for path in plan.read.iter().chain(&plan.write) {
                child::check_reachable(path, uid, gid)?;
            }
        }
        // Init and the host side of its PID namespace live in its cgroup too.
        let isolate = self.network_namespaces;
        let helpers = if isolate { NAMESPACE_HELPERS } else { 0 };
        let cgroup = match &self.cgroups {
            Ok(hierarchy) => Some(hierarchy.create(
                crate::orphans::this_node(),
                plan.name,
                plan.memory_mb,
                plan.processes + helpers,
            )?),
            Err(_) => None,
        };
        let join = match &cgroup {
            Some(cgroup) => cgroup.join_handles()?,
            None => Vec::new(),
        };
        let mut read = self.system_read.clone();
        read.extend(plan.read);
        let mut write = plan.write;
        write.push(PathBuf::from("/dev/null"));
        let network = landlock::Network::of(plan.fence.is_some(), self.network_namespaces);
        let mount = match &plan.disk {
            Some(disk) => Some(disk.detached_mount()?),
            None => None,
        };
        let ruleset = landlock::ruleset(self.landlock_abi, &read, &write, mount.as_ref(), network)?;
        let (egress, namespace) = match (plan.fence, self.network_namespaces) {
            (_, false) => (None, child::Network::Host),
            (None, true) => (None, child::Network::None),
            (Some(fence), true) => {
                let (egress, namespace) = Egress::open(fence)?;
                (Some(egress), child::Network::Fenced(namespace))
            }
        };
        let own_disk = match (mount, plan.owned.first()) {
            (Some(mount), Some(dir)) => Some(child::OwnDisk {
                mount,
                target: c_path(dir)?,
                owner: identity,
            }),
            _ => None,
        };
        let steps = child::Steps {
            join,
            network: namespace,
            isolate,
            disk: own_disk,
            limits: child::rlimits(plan.memory_mb, plan.processes, cgroup.is_some()),
            identity,
            ruleset,
            seccomp: self.filters.clone(),
        };
        Ok(Prepared {
            steps: Some(steps),
            cgroup,
            egress,
            disk: plan.disk,
        })
    }

    /// At a node's graceful stop, once its upstreams are stopped: removes its cgroup
    /// directory.
    pub(crate) fn release_node(&self) {
        if let Ok(hierarchy) = &self.cgroups {
            hierarchy.remove_node(crate::orphans::this_node());
        }
    }

    /// At a node's start: kills what dead nodes of this deployment left in their cgroups.
    pub(crate) fn reap_orphans(&self, deployment: &str) -> usize {
        match &self.cgroups {
            Ok(hierarchy) => hierarchy.reap_orphans(|node| {
                crate::orphans::is_orphan(&format!("{node}.{deployment}"), deployment)
            }),
            Err(_) => 0,
        }
    }
}

/// A launch's confinement, ready for the fork.
pub(crate) struct Prepared {
    steps: Option<child::Steps>,
    pub cgroup: Option<Cgroup>,
    /// Its way out, listening before the process starts, if it declared network.
    pub egress: Option<Egress>,
    /// Its directory's file system, attached while the process runs.
    pub disk: Option<Arc<disk::Attached>>,
}

impl Prepared {
    /// No confinement: the benchmark's direct baseline.
    pub fn unconfined() -> Self {
        Prepared {
            steps: None,
            cgroup: None,
            egress: None,
            disk: None,
        }
    }

    /// Installs the steps that run in the child between fork and exec; the environment
    /// names the egress fence if it will have one.
    pub fn apply(&mut self, command: &mut tokio::process::Command) {
        if self.egress.is_some() {
            let proxy = proxy_url();
            for name in PROXY_VARIABLES {
                command.env(name, &proxy);
            }
        }
        if let Some(steps) = self.steps.take() {
            child::install(command, steps);
        }
    }
}

fn c_path(path: &Path) -> Result<CString, ConfineError> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| ConfineError::NulInPath(path.to_path_buf()))
}
