//! What a process upstream's child does between fork and exec, and what is prepared for
//! it before the fork. The child of a multi-threaded program may only make system calls
//! there (no allocation, no locks): every path is opened, every ruleset and filter built
//! and every user looked up in the parent; the child joins, restricts and drops. Its
//! errors are bare error numbers, since even an error message would allocate.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use landlock::RulesetCreated;
use seccompiler::BpfProgram;

/// Everything the child applies, in this order: join the cgroup, enter a network
/// namespace of its own, mount its own disk over its directory in a mount namespace of
/// its own, then PID and IPC namespaces of its own (`isolate`), take its
/// rlimits, drop to the upstream user, enforce Landlock, then seccomp (which also sets
/// no-new-privileges).
pub struct Steps {
    /// `tasks` (v1) or `cgroup.procs` (v2) of each hierarchy, open for writing.
    pub join: Vec<OwnedFd>,
    pub network: Network,
    /// PID and IPC namespaces of its own (root only): no other upstream's processes to
    /// see, signal, `prlimit` or renice, no SysV IPC objects or message queues shared
    /// with anyone, and those it makes die with it.
    pub isolate: bool,
    /// Its directory's own file system (`disk.rs`), if it has a quota.
    pub disk: Option<OwnDisk>,
    pub limits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// uid and gid to become.
    pub identity: Option<(u32, u32)>,
    pub ruleset: Option<RulesetCreated>,
    pub seccomp: Vec<BpfProgram>,
}

/// A file system to mount over a directory.
pub struct OwnDisk {
    /// Its mount, made by the parent and attached nowhere yet.
    pub mount: OwnedFd,
    /// The upstream's directory (also its working directory).
    pub target: CString,
    /// Who its root is given to (the image may have been made for another uid).
    pub owner: Option<(u32, u32)>,
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

/// Mounts the upstream's disk over its directory in a mount namespace of its own, whose
/// mounts do not propagate to the host's: the mount ends with the upstream's last
/// process. The working directory is entered again, since the one entered before this
/// step is the directory beneath the mount.
fn mount_own_disk(disk: &OwnDisk) -> io::Result<()> {
    // MOVE_MOUNT_F_EMPTY_PATH: the mount is the descriptor itself.
    const FROM_DESCRIPTOR: libc::c_uint = 0x04;
    // SAFETY: plain system calls with C strings and a descriptor prepared before the fork.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        let private = libc::MS_REC | libc::MS_PRIVATE;
        let none = std::ptr::null();
        check(libc::mount(
            none,
            c"/".as_ptr(),
            none,
            private,
            std::ptr::null(),
        ))?;
        let moved = libc::syscall(
            libc::SYS_move_mount,
            disk.mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            disk.target.as_ptr(),
            FROM_DESCRIPTOR,
        );
        check(if moved < 0 { -1 } else { 0 })?;
        if let Some((uid, gid)) = disk.owner {
            check(libc::chown(disk.target.as_ptr(), uid, gid))?;
        }
        check(libc::chdir(disk.target.as_ptr()))
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
    if let Some(disk) = &steps.disk {
        mount_own_disk(disk)?;
    }
    if steps.isolate {
        isolate()?;
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

/// Moves what execs next into PID and IPC namespaces of its own. A new PID namespace
/// holds only the children of the caller, so this forks twice: the caller stays in the
/// host's namespace as what Guidepost waited for (its pid is the process group and the
/// one whose end Guidepost sees), the first child is the namespace's init, and the
/// second goes on to exec the program. Init reaps what the program leaves and ends when
/// the program does (the kernel then kills whatever is left in the namespace); the
/// caller ends as the program ended. Neither runs the program's code: both are copies of
/// Guidepost between fork and exec, doing only system calls on their stacks. Init is
/// needed because a namespace's PID 1 ignores signals it has no handler for, so the
/// program itself there would ignore Guidepost's SIGTERM.
fn isolate() -> io::Result<()> {
    // SAFETY: plain system calls on the calling (single-threaded) process, on
    // descriptors it makes, and on a stack buffer; `fork_raw` runs no fork handlers.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWPID | libc::CLONE_NEWIPC))?;
        let mut ends = [0 as libc::c_int; 2];
        check(libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC))?;
        let [status_read, status_write] = ends;
        let init = fork_raw()?;
        if init > 0 {
            wait_as_the_host_side(init, status_read);
        }
        // Init: killed if the host side is (Guidepost's kill reaches only that pid).
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        let program = fork_raw()?;
        if program > 0 {
            reap_as_init(program, status_write);
        }
        libc::close(status_read);
        libc::close(status_write);
    }
    Ok(())
}

/// `fork` without the C library's fork handlers, which take locks that another thread of
/// Guidepost may have held when the first fork copied them.
unsafe fn fork_raw() -> io::Result<libc::pid_t> {
    // SAFETY: clone with only SIGCHLD and no new stack is fork.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_ulong, 0, 0, 0, 0) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid as libc::pid_t)
}

/// Closes every descriptor but `keep` (stdio and the runtime's own pipe included, so
/// that Guidepost sees the pipes close and the spawn return when the program does).
unsafe fn close_all_but(keep: libc::c_int) {
    // SAFETY: close_range only closes descriptors of the calling process.
    unsafe {
        if keep > 0 {
            libc::syscall(libc::SYS_close_range, 0, keep - 1, 0);
        }
        libc::syscall(libc::SYS_close_range, keep + 1, libc::c_uint::MAX, 0);
    }
}

/// The host side: waits for init, then ends as the program did (its status, which init
/// wrote), or as init did.
unsafe fn wait_as_the_host_side(init: libc::pid_t, status_read: libc::c_int) -> ! {
    // SAFETY: system calls on the calling process and its own stack.
    unsafe {
        close_all_but(status_read);
        // Guidepost's SIGTERM to the group is for the program; this side ends with it.
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGPIPE] {
            libc::signal(signal, libc::SIG_IGN);
        }
        let mut init_status: libc::c_int = 0;
        while libc::waitpid(init, &mut init_status, 0) < 0 {
            if *libc::__errno_location() != libc::EINTR {
                libc::_exit(1);
            }
        }
        let mut status: libc::c_int = 0;
        let size = std::mem::size_of::<libc::c_int>();
        let read = libc::read(status_read, (&raw mut status).cast(), size);
        let status = if read == size as isize {
            status
        } else {
            init_status
        };
        end_as(status)
    }
}

/// Init: reaps every child until the program ends, passes its status on, and exits
/// (the kernel kills what is left in the namespace).
unsafe fn reap_as_init(program: libc::pid_t, status_write: libc::c_int) -> ! {
    // SAFETY: system calls on the calling process and its own stack.
    unsafe {
        close_all_but(status_write);
        loop {
            let mut status: libc::c_int = 0;
            let pid = libc::wait(&mut status);
            if pid == program {
                let size = std::mem::size_of::<libc::c_int>();
                libc::write(status_write, (&raw const status).cast(), size);
                libc::_exit(0);
            }
            if pid < 0 && *libc::__errno_location() != libc::EINTR {
                libc::_exit(1);
            }
        }
    }
}

/// Exits with `status`'s code, or dies of its signal.
unsafe fn end_as(status: libc::c_int) -> ! {
    // SAFETY: system calls on the calling process.
    unsafe {
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            libc::signal(signal, libc::SIG_DFL);
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            libc::kill(libc::getpid(), signal);
            libc::_exit(128 + signal);
        }
        libc::_exit(libc::WEXITSTATUS(status))
    }
}

/// Why the user upstreams run as (`--upstream-user`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0:?} is not a user name")]
    NotAName(String),
    #[error("no user {0:?} on this host (--upstream-user names the user upstreams run as)")]
    NoSuchUser(String),
    #[error("{0:?} is root; upstreams must run unprivileged")]
    Root(String),
}

/// Why the upstream user cannot have, or reach, a path it is given.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(
        "{} is out of reach of the upstream user (uid {uid}): {} is mode {mode:o}; \
         move it, or name another --upstream-user",
        path.display(),
        dir.display()
    )]
    OutOfReach {
        path: PathBuf,
        uid: u32,
        /// The directory above it the user cannot pass, and its mode.
        dir: PathBuf,
        mode: u32,
    },
    #[error("cannot give {} to the upstream user: {source}", dir.display())]
    NotGiven {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The uid and gid of `user` (a name, or a number).
pub fn lookup_user(user: &str) -> Result<(u32, u32), UserError> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok((uid, uid));
    }
    let name = CString::new(user).map_err(|_| UserError::NotAName(user.to_owned()))?;
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
        return Err(UserError::NoSuchUser(user.to_owned()));
    }
    if record.pw_uid == 0 {
        return Err(UserError::Root(user.to_owned()));
    }
    Ok((record.pw_uid, record.pw_gid))
}

/// Makes the upstream's own directory the upstream user's, after checking it can reach it.
pub fn give_directory(dir: &Path, uid: u32, gid: u32) -> Result<(), AccessError> {
    check_reachable(dir.parent().unwrap_or(dir), uid, gid)?;
    std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|source| AccessError::NotGiven {
        dir: dir.to_path_buf(),
        source,
    })
}

/// Whether `uid` can pass through every directory above `path` (search permission): a
/// data directory under `/root` (mode 0700) is out of an unprivileged user's reach, and
/// the upstream would fail with a confusing error inside.
pub fn check_reachable(path: &Path, uid: u32, gid: u32) -> Result<(), AccessError> {
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
            return Err(AccessError::OutOfReach {
                path: path.to_path_buf(),
                uid,
                dir: dir.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
    }
    Ok(())
}
