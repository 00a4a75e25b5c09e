//! The one error of many places: an I/O operation on a path failed.

use std::io;
use std::path::{Path, PathBuf};

/// An I/O operation on `path` that failed, worded `{action} {path}: {source}` (say,
/// `cannot read /proc/self/cgroup: No such file or directory`).
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub(crate) struct PathError {
    /// What was attempted, as the sentence begins: `cannot read`, `cannot create`.
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl PathError {
    pub fn new(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        PathError {
            action,
            path: path.into(),
            source,
        }
    }

    /// The error of `action` on `path`, for `map_err`.
    pub fn on(action: &'static str, path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> Self {
        let path = path.as_ref().to_path_buf();
        move |source| PathError::new(action, path, source)
    }
}
