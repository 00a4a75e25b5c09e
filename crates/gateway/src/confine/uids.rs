//! A uid of its own for each upstream, from the range the operator reserved
//! (`--upstream-uids`): with one, no upstream shares an owner with another, so that what
//! a missing or weaker fence leaves (files, `setpriority(PRIO_USER)`, the per-user process
//! count) is still between one upstream and itself. The record of who has which uid is
//! the ownership of the upstreams' directories: a directory owned by a uid of the range
//! keeps it across restarts and nodes' starts, and a new one takes the lowest uid that no
//! directory beside it holds, so nothing else needs storing.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::options::UidRange;
use crate::path_error::PathError;

/// Why an upstream could not be given a uid of its own.
#[derive(Debug, thiserror::Error)]
pub enum UidError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("every uid of --upstream-uids ({first}-{last}) is held by an upstream's directory")]
    AllHeld { first: u32, last: u32 },
    #[error("cannot give {} to uid {uid}: {source}", dir.display())]
    NotGiven {
        dir: PathBuf,
        uid: u32,
        #[source]
        source: std::io::Error,
    },
}

/// Gives out the range's uids, one at a time.
pub(crate) struct Uids {
    range: UidRange,
    giving: Mutex<()>,
}

impl Uids {
    pub fn new(range: UidRange) -> Self {
        Self {
            range,
            giving: Mutex::new(()),
        }
    }

    /// The uid (and gid, the same number) of the upstream whose directory is `workdir`:
    /// the one it holds, else the lowest free one.
    pub fn of(&self, workdir: &Path) -> Result<(u32, u32), UidError> {
        let _one_at_a_time = self.giving.lock().expect("uid lock");
        let owner = std::fs::metadata(workdir)
            .map_err(PathError::on("cannot read", workdir))?
            .uid();
        if self.range.contains(owner) {
            return Ok((owner, owner));
        }
        let taken: HashSet<u32> = workdir
            .parent()
            .and_then(|dir| std::fs::read_dir(dir).ok())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.metadata().ok())
            .filter(|meta| meta.is_dir())
            .map(|meta| meta.uid())
            .filter(|uid| self.range.contains(*uid))
            .collect();
        let free = (self.range.first..=self.range.last)
            .find(|uid| !taken.contains(uid))
            .ok_or(UidError::AllHeld {
                first: self.range.first,
                last: self.range.last,
            })?;
        // Taken now: the directory is the record.
        std::os::unix::fs::chown(workdir, Some(free), Some(free)).map_err(|source| {
            UidError::NotGiven {
                dir: workdir.to_path_buf(),
                uid: free,
                source,
            }
        })?;
        Ok((free, free))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_reads_first_dash_last_and_refuses_system_and_nobody() {
        let range: UidRange = "200000-200099".parse().unwrap();
        assert_eq!((range.first, range.last), (200000, 200099));
        assert!("20-30".parse::<UidRange>().is_err());
        assert!("65000-66000".parse::<UidRange>().is_err());
        assert!("300-200".parse::<UidRange>().is_err());
        assert!("200000".parse::<UidRange>().is_err());
    }
}
