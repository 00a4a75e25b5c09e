//! Install-time fetching (SPEC §8): an npm package is installed once into a
//! content-addressed directory of the cache, and launched from there with `node`, never
//! with `npx` at call time (a cold `npx` start took 16 s on our machines).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use guidepost_domain::hash_secret;
use serde_json::Value;

/// How long an `npm install` may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Where the gateway keeps fetched packages, and the tools it runs them with.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub cache_dir: PathBuf,
    pub node: PathBuf,
    pub npm: PathBuf,
}

/// The entry point of `package@version`'s binary `bin`, fetched into the cache first if it
/// is not there yet.
pub async fn npm_entry_point(
    toolchain: &Toolchain,
    package: &str,
    version: &str,
    bin: Option<&str>,
) -> Result<PathBuf, String> {
    let spec = format!("{package}@{version}");
    let dir = toolchain
        .cache_dir
        .join("npm")
        .join(&hash_secret(&spec)[..16]);
    let manifest = dir.join("node_modules").join(package).join("package.json");
    if !manifest.exists() {
        fetch(toolchain, &dir, &spec).await?;
    }
    entry_point(&manifest, package, bin)
}

async fn fetch(toolchain: &Toolchain, dir: &Path, spec: &str) -> Result<(), String> {
    // One fetch of a package at a time in this process; other processes (nodes sharing
    // the cache, parallel tests) may fetch the same one, and the first to finish wins.
    static FETCHING: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(Default::default);
    let _one_at_a_time = FETCHING.lock().await;
    if dir.join("node_modules").exists() {
        return Ok(());
    }
    // A fresh directory of its own, renamed into place when complete: a fetch that was
    // cut off leaves nothing that looks installed.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let partial = dir.with_extension(format!(
        "partial-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = tokio::fs::remove_dir_all(&partial).await;
    tokio::fs::create_dir_all(&partial)
        .await
        .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
    let installed = npm_install(toolchain, &partial, spec).await;
    let placed = match installed {
        Ok(()) => tokio::fs::rename(&partial, dir).await,
        Err(why) => {
            let _ = tokio::fs::remove_dir_all(&partial).await;
            return Err(why);
        }
    };
    if let Err(e) = placed {
        let _ = tokio::fs::remove_dir_all(&partial).await;
        // Another process placed the same package first; a complete entry is never
        // replaced, since a running upstream may be loading files from it.
        if !dir.join("node_modules").exists() {
            return Err(format!(
                "cannot move the fetched package into the cache: {e}"
            ));
        }
    }
    Ok(())
}

async fn npm_install(toolchain: &Toolchain, prefix: &Path, spec: &str) -> Result<(), String> {
    let mut command = tokio::process::Command::new(&toolchain.npm);
    command
        .args([
            "install",
            "--no-save",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
        ])
        .args(["--loglevel", "error", "--prefix"])
        .arg(prefix)
        .arg(spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(node_dir) = toolchain
        .node
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        // npm's own scripts find `node` on PATH.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![node_dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(dirs).unwrap_or(path));
    }
    let output = tokio::time::timeout(FETCH_TIMEOUT, command.output())
        .await
        .map_err(|_| format!("npm install {spec} took longer than {FETCH_TIMEOUT:?}"))?
        .map_err(|e| format!("cannot run {}: {e}", toolchain.npm.display()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: String = stderr
        .chars()
        .rev()
        .take(1000)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(format!("npm install {spec} failed: {}", tail.trim()))
}

/// The file a package's `bin` names: its only binary, or the one asked for.
fn entry_point(manifest: &Path, package: &str, bin: Option<&str>) -> Result<PathBuf, String> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| format!("{package}'s package.json: {e}"))?;
    let relative = match (&json["bin"], bin) {
        (Value::String(path), _) => path.clone(),
        (Value::Object(bins), Some(name)) => bins
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{package} has no binary {name:?}"))?
            .to_owned(),
        (Value::Object(bins), None) if bins.len() == 1 => bins
            .values()
            .next()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => {
            return Err(format!(
                "{package} does not name one binary; the entry must say which"
            ));
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
        return Err(format!("{package}'s binary lies outside the package"));
    }
    let root = manifest
        .parent()
        .expect("a manifest is in its package directory");
    Ok(root.join(relative))
}
