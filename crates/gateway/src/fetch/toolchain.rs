//! The programs and places the gateway fetches and runs packages with: a file of its
//! own, so that confinement (which reads it) and the installers (which confinement
//! runs) both depend on it and not on each other.

use std::path::PathBuf;

/// Where the gateway keeps fetched packages, and the tools it runs them with.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub cache_dir: PathBuf,
    pub node: PathBuf,
    pub npm: PathBuf,
    /// The Python that installs (`-m pip`) and runs PyPI packages.
    pub python: PathBuf,
    /// Where each upstream of this node gets a directory of its own (`{data_dir}/{id}`):
    /// its working directory, HOME and TMPDIR, and `${DATA_DIR}` in its entry.
    pub data_dir: PathBuf,
    /// The npm registry packages are fetched from (a mirror); npm's own when `None`.
    pub npm_registry: Option<String>,
    /// The PyPI index (PEP 503 simple API) packages are fetched from (a mirror); pip's
    /// own when `None`.
    pub pypi_index_url: Option<String>,
}
