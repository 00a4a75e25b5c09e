//! A disk quota per upstream directory, enforced by the kernel: the directory is an ext4
//! file system of its own, kept in a sparse image beside it (`{id}.disk`, out of the
//! upstream's reach), attached to a loop device and mounted over the directory inside the
//! upstream's own mount namespace (`child::mount_own_disk`). Writing past it gives ENOSPC
//! inside, and the host's disk holds at most the image's size.
//!
//! The parent makes the mount detached (`fsmount`), attached nowhere, and the child moves
//! it over the directory: Landlock grants by inode and does not look at a directory that a
//! mount hides, so the upstream's write rule is given on the detached mount's root, which
//! only a mount made before the ruleset can provide.
//!
//! Why an image and not the file system's quotas: user or project quotas need the
//! operator's file system mounted with them, which Guidepost cannot assume; a loop device
//! needs only root. The mount exists only in the upstream's namespace, so it ends with
//! its last process, and the loop device, attached with autoclear, detaches then: nothing
//! is left mounted or attached if Guidepost is killed. Replicas of one upstream share one
//! loop device: two mounts of one ext4 image through two devices would corrupt it, while
//! two mounts of one device share one file system.
//!
//! The loop ioctls are written here because neither `libc` nor `nix` declares them, and
//! the crates that do build their bindings with bindgen.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex, Weak};

use crate::path_error::PathError;

/// `/dev/loop-control`: the number of a free loop device (made if none is).
const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
/// Attaches a file and sets its flags in one call (Linux 5.8).
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
/// Detach when the last opener closes the device and its last mount is gone.
const LO_FLAGS_AUTOCLEAR: u32 = 4;
/// How many times a free device is taken by another process between asking and attaching
/// before giving up.
const ATTACH_ATTEMPTS: usize = 16;

/// `struct loop_info64` of `<linux/loop.h>`.
#[repr(C)]
struct LoopInfo64 {
    device: u64,
    inode: u64,
    rdevice: u64,
    offset: u64,
    size_limit: u64,
    number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    flags: u32,
    file_name: [u8; 64],
    crypt_name: [u8; 64],
    encrypt_key: [u8; 32],
    init: [u64; 2],
}

/// `struct loop_config` of `<linux/loop.h>`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// What the mount syscalls take that `libc` does not export for this target.
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x02;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x04;
const MOUNT_ATTR_NOATIME: libc::c_uint = 0x10;

/// Why this node cannot give upstreams a disk of their own.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum Unavailable {
    #[error("Guidepost is not root")]
    NotRoot,
    #[error("no loop devices (/dev/loop-control: {0})")]
    NoLoopDevices(#[source] Arc<std::io::Error>),
    #[error("no mkfs.ext4 or resize2fs (e2fsprogs) on this host")]
    NoTools,
}

/// Why an upstream's disk could not be made, attached or mounted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DiskError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("cannot run {tool}: {source}")]
    NotRun {
        tool: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed ({status}): {said}")]
    ToolFailed {
        tool: &'static str,
        status: ExitStatus,
        /// What it wrote to stderr, trimmed.
        said: String,
    },
    #[error("no free loop device: {0}")]
    NoFreeDevice(#[source] std::io::Error),
    #[error("cannot attach {} to {device}: {source}", image.display())]
    NotAttached {
        image: PathBuf,
        device: String,
        #[source]
        source: std::io::Error,
    },
    #[error("every free loop device was taken before it could be attached")]
    AllTaken,
    #[error(transparent)]
    Descriptor(#[from] std::num::TryFromIntError),
    #[error(transparent)]
    DeviceName(#[from] std::ffi::NulError),
    #[error("cannot mount the upstream's disk ({step}): {source}")]
    NotMounted {
        /// The mount system call that failed.
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// The node's disks: whether it can make them, and those attached now.
pub(crate) struct Disks {
    /// `mkfs.ext4` and `resize2fs`, or why there is no disk quota here.
    tools: Result<(PathBuf, PathBuf), Unavailable>,
    attached: Mutex<HashMap<PathBuf, Weak<Attached>>>,
}

/// An image attached to a loop device, held open while a process of its upstream runs.
pub(crate) struct Attached {
    _device: OwnedFd,
    /// `/dev/loopN`.
    pub path: CString,
}

impl Disks {
    /// What this node offers: root, loop devices and e2fsprogs.
    pub fn detect(is_root: bool) -> Self {
        let tools = if !is_root {
            Err(Unavailable::NotRoot)
        } else if let Err(error) = OpenOptions::new().write(true).open("/dev/loop-control") {
            Err(Unavailable::NoLoopDevices(Arc::new(error)))
        } else {
            match (find_tool("mkfs.ext4"), find_tool("resize2fs")) {
                (Some(mkfs), Some(resize)) => Ok((mkfs, resize)),
                _ => Err(Unavailable::NoTools),
            }
        };
        Self {
            tools,
            attached: Mutex::new(HashMap::new()),
        }
    }

    /// Why this node cannot bound directories, if it cannot.
    pub fn unavailable(&self) -> Option<&Unavailable> {
        self.tools.as_ref().err()
    }

    /// `workdir`'s file system of `size_mb`, owned by `uid`:`gid` at its root, attached;
    /// the one already attached if a replica runs.
    pub fn attach(
        &self,
        workdir: &Path,
        size_mb: u32,
        owner: Option<(u32, u32)>,
    ) -> Result<Arc<Attached>, DiskError> {
        let (mkfs, resize) = self.tools.as_ref().map_err(Clone::clone)?;
        let mut attached = self.attached.lock().expect("disk lock");
        attached.retain(|_, disk| disk.strong_count() > 0);
        if let Some(disk) = attached.get(workdir).and_then(Weak::upgrade) {
            return Ok(disk);
        }
        let image = image_of(workdir);
        // A device still attached to the image (the mount of a process that is still
        // dying) is taken again, and the image left as it is: a second device would make
        // a second file system over the same blocks.
        let disk = match still_attached(&image) {
            Some(disk) => disk,
            None => {
                let size = u64::from(size_mb) * 1024 * 1024;
                if image.exists() {
                    grow(&image, size, resize)?;
                } else {
                    create(&image, workdir, size, owner.unwrap_or((0, 0)), mkfs)?;
                }
                attach_loop(&image)?
            }
        };
        let disk = Arc::new(disk);
        attached.insert(workdir.to_path_buf(), Arc::downgrade(&disk));
        Ok(disk)
    }
}

impl Attached {
    /// A new mount of the device's file system, attached nowhere (closed at exec): the
    /// child moves it over the upstream's directory; it is gone if it never does.
    pub fn detached_mount(&self) -> Result<OwnedFd, DiskError> {
        let fail = |step| DiskError::NotMounted {
            step,
            source: std::io::Error::last_os_error(),
        };
        // SAFETY: plain system calls with C strings that live across them; each returned
        // descriptor is checked, then owned.
        unsafe {
            let context = libc::syscall(libc::SYS_fsopen, c"ext4".as_ptr(), FSOPEN_CLOEXEC);
            if context < 0 {
                return Err(fail("fsopen"));
            }
            let context = OwnedFd::from_raw_fd(context as libc::c_int);
            let fd = context.as_raw_fd();
            let source = libc::syscall(
                libc::SYS_fsconfig,
                fd,
                FSCONFIG_SET_STRING,
                c"source".as_ptr(),
                self.path.as_ptr(),
                0,
            );
            if source < 0 {
                return Err(fail("source"));
            }
            if libc::syscall(
                libc::SYS_fsconfig,
                fd,
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<u8>(),
                std::ptr::null::<u8>(),
                0,
            ) < 0
            {
                return Err(fail("create"));
            }
            let attributes = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOATIME;
            let mount = libc::syscall(libc::SYS_fsmount, fd, FSMOUNT_CLOEXEC, attributes);
            if mount < 0 {
                return Err(fail("fsmount"));
            }
            Ok(OwnedFd::from_raw_fd(mount as libc::c_int))
        }
    }
}

/// Where `workdir`'s image lives: beside it, so that it is out of the upstream's reach
/// and goes with it at an uninstall.
pub(crate) fn image_of(workdir: &Path) -> PathBuf {
    let mut name = workdir.file_name().unwrap_or_default().to_os_string();
    name.push(".disk");
    workdir.with_file_name(name)
}

fn find_tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

/// Makes the image: sparse, no journal (a crash loses at most the upstream's last
/// writes, and a journal would take part of a small quota), nothing reserved for root,
/// and what the directory already holds copied in (then removed from beneath the mount).
fn create(
    image: &Path,
    workdir: &Path,
    size: u64,
    (uid, gid): (u32, u32),
    mkfs: &Path,
) -> Result<(), DiskError> {
    let partial = image.with_extension("disk-partial");
    let file = File::create(&partial).map_err(PathError::on("cannot create", &partial))?;
    file.set_len(size)
        .map_err(PathError::on("cannot size", &partial))?;
    drop(file);
    let held = std::fs::read_dir(workdir)
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    let mut command = Command::new(mkfs);
    command
        .args(["-q", "-F", "-m", "0", "-O", "^has_journal"])
        .arg("-E")
        .arg(format!("root_owner={uid}:{gid}"));
    if held {
        command.arg("-d").arg(workdir);
    }
    run(command.arg(&partial), "mkfs.ext4")?;
    std::fs::rename(&partial, image).map_err(PathError::on("cannot keep", image))?;
    if held {
        empty(workdir);
    }
    Ok(())
}

/// Grows the image to `size` when the quota was raised (a lowered one keeps the size:
/// shrinking could lose the upstream's files).
fn grow(image: &Path, size: u64, resize: &Path) -> Result<(), DiskError> {
    let current = std::fs::metadata(image)
        .map_err(PathError::on("cannot read", image))?
        .len();
    if current >= size {
        return Ok(());
    }
    let file = OpenOptions::new()
        .write(true)
        .open(image)
        .map_err(PathError::on("cannot open", image))?;
    file.set_len(size)
        .map_err(PathError::on("cannot grow", image))?;
    let mut command = Command::new(resize);
    run(command.arg("-f").arg(image), "resize2fs")
}

fn run(command: &mut Command, tool: &'static str) -> Result<(), DiskError> {
    let output = command
        .output()
        .map_err(|source| DiskError::NotRun { tool, source })?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(DiskError::ToolFailed {
        tool,
        status: output.status,
        said: said.trim().to_owned(),
    })
}

/// Removes what the directory held before it had a file system of its own: it is in the
/// image now, and would only take the host's disk beneath the mount.
fn empty(workdir: &Path) {
    let Ok(entries) = std::fs::read_dir(workdir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(error) = removed {
            tracing::warn!(%error, path = %path.display(), "could not remove a file now in the upstream's disk");
        }
    }
}

/// The loop device `image` is attached to, opened, if one is (its backing file is read
/// again once it is open: an autoclear between the two reads leaves a device that is no
/// longer the image's).
fn still_attached(image: &Path) -> Option<Attached> {
    let backed_by_image = |device: &Path| {
        std::fs::read_to_string(device.join("loop/backing_file"))
            .is_ok_and(|file| Path::new(file.trim_end()) == image)
    };
    let found = std::fs::read_dir("/sys/block")
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|device| backed_by_image(device))?;
    let name = found.file_name()?.to_string_lossy().into_owned();
    let path = format!("/dev/{name}");
    let device = open_read_write(Path::new(&path)).ok()?;
    let path = CString::new(path).ok()?;
    backed_by_image(&found).then(|| Attached {
        _device: device.into(),
        path,
    })
}

/// Attaches `image` to a free loop device, with autoclear.
fn attach_loop(image: &Path) -> Result<Attached, DiskError> {
    let backing = open_read_write(image).map_err(PathError::on("cannot open", image))?;
    let control = OpenOptions::new()
        .write(true)
        .open("/dev/loop-control")
        .map_err(PathError::on("cannot open", "/dev/loop-control"))?;
    let mut config = LoopConfig {
        fd: u32::try_from(backing.as_raw_fd())?,
        block_size: 0,
        // SAFETY: a C struct of integers and byte arrays, for which zero is valid.
        info: unsafe { std::mem::zeroed() },
        reserved: [0; 8],
    };
    config.info.flags = LO_FLAGS_AUTOCLEAR;
    let name = image.file_name().unwrap_or_default().as_bytes();
    let kept = name.len().min(config.info.file_name.len() - 1);
    config.info.file_name[..kept].copy_from_slice(&name[..kept]);
    for _ in 0..ATTACH_ATTEMPTS {
        // SAFETY: an ioctl without argument on a descriptor we hold.
        let number = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if number < 0 {
            return Err(DiskError::NoFreeDevice(std::io::Error::last_os_error()));
        }
        let path = format!("/dev/loop{number}");
        let device =
            open_read_write(Path::new(&path)).map_err(PathError::on("cannot open", &path))?;
        // SAFETY: the kernel reads a `loop_config` we own for the length of the call.
        let result = unsafe { libc::ioctl(device.as_raw_fd(), LOOP_CONFIGURE, &raw const config) };
        if result == 0 {
            return Ok(Attached {
                _device: device.into(),
                path: CString::new(path)?,
            });
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EBUSY) {
            return Err(DiskError::NotAttached {
                image: image.to_path_buf(),
                device: path,
                source: error,
            });
        }
    }
    Err(DiskError::AllTaken)
}

/// A device or image opened for reading and writing, closed at exec.
fn open_read_write(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}
