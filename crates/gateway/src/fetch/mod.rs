//! Install-time fetching: an npm or PyPI package is installed once into a
//! content-addressed directory of the cache, and launched from there (`node` on the npm
//! binary's file, `python` on the console script's function), never with `npx` or
//! `uvx` at call time (a cold `npx` start took 16 s on our machines).

mod install;
mod resolved;
pub(crate) mod toolchain;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use guidepost_domain::hash_secret;
use serde_json::Value;

use crate::confine::Confiner;
use crate::path_error::PathError;
use install::{InstallError, Installer};
pub use toolchain::Toolchain;

/// Written into a cache directory once its install finished.
const COMPLETE: &str = ".guidepost-complete";

/// Why a package's entry point could not be had: its install failed, or the installed
/// package does not name one to launch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Path(#[from] PathError),
    /// The mark of a finished install (`COMPLETE`) could not be written.
    #[error(transparent)]
    NotMarked(std::io::Error),
    #[error("cannot move the fetched package into the cache: {0}")]
    NotMoved(#[source] std::io::Error),
    #[error("{package} was installed without its metadata")]
    NoMetadata { package: String },
    #[error("{package} has no console scripts")]
    NoConsoleScripts {
        package: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{package} has no console script {name:?}")]
    NoSuchScript { package: String, name: String },
    #[error("{package} does not have exactly one console script; the entry must say which")]
    NotOneScript { package: String },
    #[error("{package}'s console script {target:?} names no function")]
    NoFunction { package: String, target: String },
    #[error("{package}'s console script {target:?} is not module:function")]
    NotModuleFunction { package: String, target: String },
    #[error("{package}'s package.json: {source}")]
    Manifest {
        package: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{package} has no binary {name:?}")]
    NoSuchBinary { package: String, name: String },
    #[error("{package} does not name one binary; the entry must say which")]
    NotOneBinary { package: String },
    #[error("{package}'s binary lies outside the package")]
    BinaryOutside { package: String },
}

/// The entry point of `package@version`'s binary `bin`, fetched into the cache first if it
/// is not there yet.
///
/// The install runs confined by `confiner` (`None`: the benchmark's unconfined baseline).
pub async fn npm_entry_point(
    toolchain: &Toolchain,
    confiner: Option<&Confiner>,
    package: &str,
    version: &str,
    bin: Option<&str>,
) -> Result<PathBuf, FetchError> {
    let spec = format!("{package}@{version}");
    let installer = Installer::new(toolchain, confiner);
    let dir = cached(toolchain, "npm", &spec, |prefix| {
        installer.npm(prefix, &spec)
    })
    .await?;
    let manifest = dir.join("node_modules").join(package).join("package.json");
    entry_point(&manifest, package, bin)
}

/// A PyPI package's console script, as the module and function to call with the
/// package's directory on `PYTHONPATH`.
#[derive(Debug, Clone)]
pub struct PythonEntry {
    pub path: PathBuf,
    pub module: String,
    pub function: String,
}

/// The console script `bin` (or the only one) of `package==version`, fetched into the
/// cache first if it is not there yet.
///
/// The install runs confined by `confiner` (`None`: the benchmark's unconfined baseline).
pub async fn pypi_entry_point(
    toolchain: &Toolchain,
    confiner: Option<&Confiner>,
    package: &str,
    version: &str,
    bin: Option<&str>,
) -> Result<PythonEntry, FetchError> {
    let spec = format!("{package}=={version}");
    let installer = Installer::new(toolchain, confiner);
    let dir = cached(toolchain, "pypi", &spec, |target| {
        installer.pip(target, &spec)
    })
    .await?;
    console_script(&dir, package, bin)
}

/// The cache directory of `spec`, installed by `install` into a fresh directory renamed
/// into place when complete, so a fetch that was cut off leaves nothing that looks
/// installed. One fetch at a time in this process; other processes (nodes sharing the
/// cache, parallel tests) may fetch the same package, and the first to finish wins: a
/// complete entry is never replaced, since a running upstream may be loading from it.
async fn cached<F, Fut>(
    toolchain: &Toolchain,
    kind: &str,
    spec: &str,
    install: F,
) -> Result<PathBuf, FetchError>
where
    F: FnOnce(PathBuf) -> Fut,
    Fut: Future<Output = Result<(), InstallError>>,
{
    static FETCHING: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(Default::default);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = toolchain
        .cache_dir
        .join(kind)
        .join(&hash_secret(spec)[..16]);
    if dir.join(COMPLETE).exists() {
        return Ok(dir);
    }
    let _one_at_a_time = FETCHING.lock().await;
    if dir.join(COMPLETE).exists() {
        return Ok(dir);
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let partial = dir.with_extension(format!("partial-{}-{n}", std::process::id()));
    let _ = tokio::fs::remove_dir_all(&partial).await;
    tokio::fs::create_dir_all(&partial)
        .await
        .map_err(PathError::on("cannot create", &partial))?;
    let installed = match install(partial.clone()).await {
        Ok(()) => tokio::fs::write(partial.join(COMPLETE), spec)
            .await
            .map_err(FetchError::NotMarked),
        Err(why) => Err(why.into()),
    };
    if let Err(why) = installed {
        let _ = tokio::fs::remove_dir_all(&partial).await;
        return Err(why);
    }
    if !dir.join(COMPLETE).exists() {
        let _ = tokio::fs::remove_dir_all(&dir).await;
    }
    if let Err(e) = tokio::fs::rename(&partial, &dir).await {
        let _ = tokio::fs::remove_dir_all(&partial).await;
        if !dir.join(COMPLETE).exists() {
            return Err(FetchError::NotMoved(e));
        }
    }
    Ok(dir)
}

/// The console script `bin` (or the only one) of `package`, from its `entry_points.txt`.
fn console_script(dir: &Path, package: &str, bin: Option<&str>) -> Result<PythonEntry, FetchError> {
    let wanted = normalized(package);
    let dist_info = std::fs::read_dir(dir)
        .map_err(PathError::on("cannot read", dir))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let distribution = name
                .strip_suffix(".dist-info")
                .and_then(|stem| stem.rsplit_once('-'))
                .map(|(distribution, _version)| distribution);
            distribution.is_some_and(|d| normalized(d) == wanted)
        })
        .ok_or_else(|| FetchError::NoMetadata {
            package: package.into(),
        })?;
    let text = std::fs::read_to_string(dist_info.join("entry_points.txt")).map_err(|source| {
        FetchError::NoConsoleScripts {
            package: package.into(),
            source,
        }
    })?;
    let scripts = console_scripts(&text);
    let chosen = match bin {
        Some(name) => scripts.iter().find(|(script, _)| script == name),
        None if scripts.len() == 1 => scripts.first(),
        None => None,
    };
    let (_, target) = chosen.ok_or_else(|| match bin {
        Some(name) => FetchError::NoSuchScript {
            package: package.into(),
            name: name.into(),
        },
        None => FetchError::NotOneScript {
            package: package.into(),
        },
    })?;
    let (module, function) = target
        .split_once(':')
        .ok_or_else(|| FetchError::NoFunction {
            package: package.into(),
            target: target.clone(),
        })?;
    let dotted = |text: &str| {
        !text.is_empty()
            && text.split('.').all(|part| {
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    };
    if !dotted(module.trim()) || !dotted(function.trim()) {
        return Err(FetchError::NotModuleFunction {
            package: package.into(),
            target: target.clone(),
        });
    }
    Ok(PythonEntry {
        path: dir.to_path_buf(),
        module: module.trim().to_owned(),
        function: function.trim().to_owned(),
    })
}

/// `[console_scripts]` of an `entry_points.txt`: (name, `module:function`).
fn console_scripts(text: &str) -> Vec<(String, String)> {
    let mut in_section = false;
    let mut scripts = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[console_scripts]";
        } else if in_section && let Some((name, target)) = line.split_once('=') {
            scripts.push((name.trim().to_owned(), target.trim().to_owned()));
        }
    }
    scripts
}

/// A distribution name as PEP 503 compares them.
fn normalized(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// The file a package's `bin` names: its only binary, or the one asked for.
fn entry_point(manifest: &Path, package: &str, bin: Option<&str>) -> Result<PathBuf, FetchError> {
    let text = std::fs::read_to_string(manifest).map_err(PathError::on("cannot read", manifest))?;
    let json: Value = serde_json::from_str(&text).map_err(|source| FetchError::Manifest {
        package: package.into(),
        source,
    })?;
    let relative = match (&json["bin"], bin) {
        (Value::String(path), _) => path.clone(),
        (Value::Object(bins), Some(name)) => bins
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| FetchError::NoSuchBinary {
                package: package.into(),
                name: name.into(),
            })?
            .to_owned(),
        (Value::Object(bins), None) if bins.len() == 1 => bins
            .values()
            .next()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => {
            return Err(FetchError::NotOneBinary {
                package: package.into(),
            });
        }
    };
    let relative = Path::new(&relative);
    let inside = relative.components().all(|c| {
        matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if !inside {
        return Err(FetchError::BinaryOutside {
            package: package.into(),
        });
    }
    let root = manifest
        .parent()
        .expect("a manifest is in its package directory");
    Ok(root.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_scripts_are_read_from_their_section_only() {
        let text = "[gui_scripts]\nviewer = pkg.gui:run\n\n[console_scripts]\nmcp-server-time = mcp_server_time:main\n";
        assert_eq!(
            console_scripts(text),
            [(
                "mcp-server-time".to_owned(),
                "mcp_server_time:main".to_owned()
            )]
        );
        assert_eq!(normalized("MCP-Server.Time"), "mcp_server_time");
    }
}
