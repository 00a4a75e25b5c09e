//! Where upstreams' directories and packages live when Guidepost runs as root: the
//! upstream user must pass through every directory above them. Started as a newcomer
//! starts it, as root in a directory under root's home (mode 700), the default places
//! (`./guidepost-data`, `./guidepost-cache`) are out of that user's reach and no process
//! upstream could ever start; so a place out of reach moves to one under
//! `/var/lib/guidepost`, named after the place asked for, so that a restart finds the
//! same packages and directories again. Where that fails too, the node reports it
//! (`Confiner::report`) and refuses process upstreams at install, instead of failing
//! each start.

use std::path::{Path, PathBuf};

use guidepost_domain::hash_secret;

use super::{ConfinementOptions, Mode, child};
use crate::fetch::toolchain::Toolchain;

/// Where places out of the upstream user's reach move to.
const RELOCATED: &str = "/var/lib/guidepost/upstreams";

/// Moves `toolchain`'s data and cache directories where the upstream user can reach
/// them, if they are not; answers what it moved, in words.
pub fn make_reachable(toolchain: &mut Toolchain, options: &ConfinementOptions) -> Vec<String> {
    // SAFETY: geteuid only reads.
    let is_root = unsafe { libc::geteuid() } == 0;
    if !is_root || options.mode == Mode::Off {
        return Vec::new();
    }
    let Ok((uid, gid)) = child::lookup_user(&options.user) else {
        return Vec::new();
    };
    let mut moved = Vec::new();
    let places = [
        (&mut toolchain.data_dir, "data"),
        (&mut toolchain.cache_dir, "cache"),
    ];
    for (place, kind) in places {
        if unreachable(place, uid, gid).is_none() {
            continue;
        }
        let instead = Path::new(RELOCATED).join(format!(
            "{kind}-{}",
            &hash_secret(&place.display().to_string())[..16]
        ));
        match create_passable(&instead) {
            Ok(()) => {
                moved.push(format!(
                    "{} is out of reach of the upstream user {:?}: upstreams' {kind} go to {} instead",
                    place.display(),
                    options.user,
                    instead.display()
                ));
                *place = instead;
            }
            Err(error) => tracing::warn!(
                place = %place.display(), %error,
                "an upstream place is out of reach and cannot be moved"
            ),
        }
    }
    moved
}

/// Why the upstream user cannot reach `place` (every directory down to it), if it
/// cannot.
pub fn unreachable(place: &Path, uid: u32, gid: u32) -> Option<child::AccessError> {
    child::check_reachable(&place.join("entry"), uid, gid).err()
}

/// Makes `dir` and the directories above it that are missing, each passable (0711) but
/// not listable by others.
fn create_passable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect();
    for dir in missing.iter().rev() {
        std::fs::DirBuilder::new().mode(0o711).create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))?;
    }
    Ok(())
}
