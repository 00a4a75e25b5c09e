//! The Landlock ruleset of a process upstream: read and execute its runtime, the system's
//! libraries and its package; read and write its own directory; no TCP but what its
//! declaration allows; no signals to, and no abstract sockets of, anything outside it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr, Scope,
};

use crate::fetch::toolchain::Toolchain;

/// Why an upstream's Landlock ruleset could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error("cannot prepare the Landlock ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    /// The upstream disk's mount could not be held for the rule.
    #[error("cannot prepare the Landlock ruleset: {0}")]
    Mount(#[from] std::io::Error),
}

/// The ABI whose rights we handle: the newest one these rules were tested with.
const TESTED: ABI = ABI::V6;

/// The Landlock ABI the kernel offers; 0 without Landlock.
pub fn abi() -> i32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute and the VERSION flag, the call only returns a number.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    i32::try_from(version).unwrap_or(0).max(0)
}

/// The way out a process has over TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// No connect and no bind at all.
    None,
    /// Connect to the egress fence's port only (inside its own network namespace).
    FenceOnly,
    /// Not fenced by Landlock (a network entry where namespaces are missing).
    Open,
}

impl Network {
    pub fn of(declared: bool, namespaces: bool) -> Self {
        match (declared, namespaces) {
            (false, _) => Network::None,
            (true, true) => Network::FenceOnly,
            (true, false) => Network::Open,
        }
    }
}

/// System directories and files every runtime reads: libraries, the dynamic loader's
/// cache, certificates, time zones, name resolution; and the runtimes themselves (the
/// directory they are installed in, found from their real path). Only what exists.
pub fn system_paths(toolchain: &Toolchain) -> Vec<PathBuf> {
    const SYSTEM: &[&str] = &[
        "/usr",
        "/lib",
        "/lib64",
        "/lib32",
        "/bin",
        "/sbin",
        "/etc/ld.so.cache",
        "/etc/ld.so.conf",
        "/etc/ld.so.conf.d",
        "/etc/localtime",
        "/etc/timezone",
        "/etc/ssl",
        "/etc/ca-certificates",
        "/etc/pki",
        "/etc/resolv.conf",
        "/etc/hosts",
        "/etc/nsswitch.conf",
        "/etc/host.conf",
        "/etc/gai.conf",
        "/etc/passwd",
        "/etc/group",
        "/etc/protocols",
        "/etc/services",
        "/etc/mime.types",
        "/etc/os-release",
        // What pip and other runtimes read to name the system (a user agent).
        "/etc/debian_version",
        "/etc/lsb-release",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
    ];
    let mut paths: Vec<PathBuf> = SYSTEM.iter().map(PathBuf::from).collect();
    // Debian's Python reads its sitecustomize from /etc/python3.X.
    if let Ok(entries) = std::fs::read_dir("/etc") {
        paths.extend(
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
                .map(|e| e.path()),
        );
    }
    for runtime in [&toolchain.node, &toolchain.python] {
        paths.extend(runtime_dirs(runtime));
    }
    paths.retain(|path| path.exists());
    paths.sort();
    paths.dedup();
    paths
}

/// Where a runtime lives: the prefix of its path as given (a venv's root) and of its real
/// path (`/usr`, a Node package's directory), never `/` itself.
pub fn runtime_dirs(runtime: &Path) -> Vec<PathBuf> {
    let Some(given) = which(runtime) else {
        return Vec::new();
    };
    let real = std::fs::canonicalize(&given).unwrap_or_else(|_| given.clone());
    [given, real]
        .iter()
        .filter_map(|path| {
            let bin = path.parent()?;
            let prefix = bin.parent().filter(|p| p.parent().is_some())?;
            Some(prefix.to_path_buf())
        })
        .collect()
}

/// A program's path: as given if it names a directory, else found on PATH.
pub fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return std::path::absolute(program).ok();
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// A program's path as [`which`] finds it, or as given where it finds none (the spawn
/// then says what is missing).
pub fn located(program: &Path) -> PathBuf {
    which(program).unwrap_or_else(|| program.to_path_buf())
}

/// The ruleset, created (rules added) but not yet enforced: the child enforces it
/// between fork and exec. `None` without Landlock (allowed in best-effort mode only).
pub fn ruleset(
    abi: i32,
    read: &[PathBuf],
    write: &[PathBuf],
    mounted: Option<&OwnedFd>,
    network: Network,
) -> Result<Option<RulesetCreated>, LandlockError> {
    if abi <= 0 {
        return Ok(None);
    }
    let net = match network {
        Network::Open => AccessNet::from_all(ABI::Unsupported),
        Network::None | Network::FenceOnly => AccessNet::BindTcp | AccessNet::ConnectTcp,
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(TESTED))?;
    if !net.is_empty() {
        ruleset = ruleset.handle_access(net)?;
    }
    let mut created = ruleset.scope(Scope::from_all(TESTED))?.create()?;
    for (paths, access) in [
        (read, AccessFs::from_read(TESTED)),
        (write, AccessFs::from_all(TESTED)),
    ] {
        for path in paths {
            // A path that vanished since it was found grants nothing.
            let Ok(fd) = PathFd::new(path) else { continue };
            created = created.add_rule(PathBeneath::new(fd, access))?;
        }
    }
    // The upstream's own disk, by its detached mount (`disk.rs` says why not by path).
    if let Some(mount) = mounted {
        let fd = mount.try_clone()?;
        created = created.add_rule(PathBeneath::new(fd, AccessFs::from_all(TESTED)))?;
    }
    if network == Network::FenceOnly {
        created = created.add_rule(NetPort::new(super::egress::PORT, AccessNet::ConnectTcp))?;
    }
    Ok(Some(created))
}
