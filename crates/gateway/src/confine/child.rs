//! What a process upstream's child does between fork and exec, and what is prepared for
//! it before the fork. The child of a multi-threaded program may only make system calls
//! there (no allocation, no locks): every path is opened, every ruleset and filter built
//! and every user looked up in the parent; the child joins, restricts and drops. Its
//! errors are bare error numbers, since even an error message would allocate.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use landlock::RulesetCreated;
use seccompiler::BpfProgram;

/// Everything the child applies, in this order: join the cgroup, enter a network
/// namespace of its own, take its rlimits, drop to the upstream user, enforce Landlock,
/// then seccomp (which also sets no-new-privileges).
pub struct Steps {
    /// `tasks` (v1) or `cgroup.procs` (v2) of each hierarchy, open for writing.
    pub join: Vec<OwnedFd>,
    pub network: Network,
    pub limits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// uid and gid to become.
    pub identity: Option<(u32, u32)>,
    pub ruleset: Option<RulesetCreated>,
    pub seccomp: Vec<BpfProgram>,
}

/// The network a process upstream gets.
pub enum Network {
    /// The host's (no network namespaces here).
    Host,
    /// A new namespace with only a loopback that is down: no network at all.
    None,
    /// A namespace made before the fork, with the egress fence listening in it.
    Fenced(OwnedFd),
}

/// The rlimits of a process upstream. Memory and processes are the cgroup's to bound
/// where there is one (the rlimit on processes counts every process of the user, all
/// upstreams together, and an address-space limit breaks runtimes that reserve large
/// virtual ranges, such as V8).
pub fn rlimits(
    memory_mb: u32,
    processes: u32,
    has_cgroup: bool,
) -> Vec<(libc::__rlimit_resource_t, u64)> {
    let mut limits = vec![
        (libc::RLIMIT_NOFILE, super::OPEN_FILES),
        (libc::RLIMIT_FSIZE, super::FILE_SIZE_BYTES),
        (libc::RLIMIT_CPU, super::CPU_SECONDS),
        (libc::RLIMIT_CORE, 0),
    ];
    if !has_cgroup {
        limits.push((libc::RLIMIT_NPROC, u64::from(processes)));
        limits.push((libc::RLIMIT_DATA, u64::from(memory_mb) * 1024 * 1024));
    }
    limits
}

/// Installs the steps on the command.
pub fn install(command: &mut tokio::process::Command, steps: Steps) {
    let mut steps = Some(steps);
    // SAFETY: the closure makes only system calls on data prepared before the fork
    // (see the module comment), and `restrict_self` and `apply_filter` allocate nothing
    // on success.
    unsafe {
        command.pre_exec(move || match steps.take() {
            Some(steps) => apply(steps),
            None => Err(io::Error::from_raw_os_error(libc::EALREADY)),
        });
    }
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn apply(steps: Steps) -> io::Result<()> {
    for procs in &steps.join {
        // SAFETY: writes two bytes from a static buffer to an open descriptor.
        let written = unsafe { libc::write(procs.as_raw_fd(), b"0\n".as_ptr().cast(), 2) };
        if written < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    match &steps.network {
        Network::Host => {}
        // SAFETY: plain system calls on the calling process (and a descriptor it holds).
        Network::None => check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?,
        Network::Fenced(namespace) => {
            check(unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) })?
        }
    }
    for (resource, value) in &steps.limits {
        let limit = libc::rlimit {
            rlim_cur: *value,
            rlim_max: *value,
        };
        // SAFETY: a plain system call with a valid pointer to a stack value.
        check(unsafe { libc::setrlimit(*resource, &limit) })?;
    }
    if let Some((uid, gid)) = steps.identity {
        // SAFETY: plain system calls on the calling process; groups first, the user last.
        unsafe {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setresgid(gid, gid, gid))?;
            check(libc::setresuid(uid, uid, uid))?;
        }
    }
    if let Some(ruleset) = steps.ruleset {
        ruleset
            .restrict_self()
            .map_err(|_| io::Error::from_raw_os_error(libc::EPERM))?;
    }
    for filter in &steps.seccomp {
        seccompiler::apply_filter(filter)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    }
    Ok(())
}

/// The uid and gid of `user` (a name, or a number).
pub fn lookup_user(user: &str) -> Result<(u32, u32), String> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok((uid, uid));
    }
    let name = CString::new(user).map_err(|_| format!("{user:?} is not a user name"))?;
    let mut record: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r writes into the record and the buffer we own, within its length.
    let code = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut record,
            buffer.as_mut_ptr(),
            buffer.len(),
            &mut found,
        )
    };
    if code != 0 || found.is_null() {
        return Err(format!(
            "no user {user:?} on this host (--upstream-user names the user upstreams run as)"
        ));
    }
    if record.pw_uid == 0 {
        return Err(format!("{user:?} is root; upstreams must run unprivileged"));
    }
    Ok((record.pw_uid, record.pw_gid))
}

/// Makes the upstream's own directory the upstream user's, after checking it can reach it.
pub fn give_directory(dir: &Path, uid: u32, gid: u32) -> Result<(), String> {
    check_reachable(dir.parent().unwrap_or(dir), uid, gid)?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .map_err(|e| format!("cannot give {} to the upstream user: {e}", dir.display()))
}

/// Whether `uid` can pass through every directory above `path` (search permission): a
/// data directory under `/root` (mode 0700) is out of an unprivileged user's reach, and
/// the upstream would fail with a confusing error inside.
pub fn check_reachable(path: &Path, uid: u32, gid: u32) -> Result<(), String> {
    for dir in path.ancestors().skip(1) {
        let Ok(meta) = std::fs::metadata(dir) else {
            continue;
        };
        let mode = meta.mode();
        let allowed = if meta.uid() == uid {
            mode & 0o100 != 0
        } else if meta.gid() == gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !allowed {
            return Err(format!(
                "{} is out of reach of the upstream user (uid {uid}): {} is mode {:o}; \
                 move it, or name another --upstream-user",
                path.display(),
                dir.display(),
                mode & 0o7777
            ));
        }
    }
    Ok(())
}
