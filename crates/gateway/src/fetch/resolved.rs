//! What an installer resolved, checked after it ran: every package of the tree came from
//! the registry, with the registry's integrity hash. A dependency from git, a local
//! path, a link or a tarball URL elsewhere is refused, naming it: such a spec can run or
//! fetch what the registry never vetted (npm prepares a git dependency by running its
//! install), and a tarball elsewhere escapes what the operator chose to trust. Git is
//! switched off for the installers as well (`install.rs`); this is the second lock.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::path_error::PathError;

/// The largest lockfile or report read.
const MAX_BYTES: u64 = 32 * 1024 * 1024;

/// Why what an installer resolved is refused, or its record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResolvedError {
    #[error(
        "the dependency {name} comes from {from}, not the registry; Guidepost installs \
         only from the registry (no git, local path, link or tarball elsewhere)"
    )]
    FromElsewhere { name: String, from: String },
    #[error(
        "the dependency {name} came without the registry's integrity hash; \
         Guidepost installs only what the registry vouches for"
    )]
    NoIntegrity { name: String },
    #[error(
        "the dependency {name} came without the index's hash; \
         Guidepost installs only what the index vouches for"
    )]
    NoHash { name: String },
    #[error("{} lists no packages", .0.display())]
    NoPackages(PathBuf),
    #[error("pip's report lists nothing installed")]
    NothingInstalled,
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{} is {size} bytes, over the {MAX_BYTES} read", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{}: {source}", path.display())]
    NotJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// npm's record of what it installed under `prefix` (`node_modules/.package-lock.json`).
pub(super) fn check_npm(prefix: &Path, registry: &str) -> Result<(), ResolvedError> {
    let lockfile = prefix.join("node_modules").join(".package-lock.json");
    let tree = read_json(&lockfile)?;
    let registry_host = url::Url::parse(registry)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let packages = tree["packages"]
        .as_object()
        .ok_or_else(|| ResolvedError::NoPackages(lockfile.clone()))?;
    for (path, entry) in packages.iter().filter(|(path, _)| !path.is_empty()) {
        let name = path.rsplit("node_modules/").next().unwrap_or(path);
        let resolved = entry["resolved"].as_str();
        if entry["link"] == true {
            return Err(refused(name, resolved.unwrap_or("a local path")));
        }
        if let Some(resolved) = resolved {
            let host = url::Url::parse(resolved)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http"));
            let host = host.as_ref().and_then(|u| u.host_str());
            if host.is_none() || host != registry_host.as_deref() {
                return Err(refused(name, resolved));
            }
        }
        if !entry["integrity"]
            .as_str()
            .is_some_and(|i| i.starts_with("sha"))
        {
            return Err(ResolvedError::NoIntegrity { name: name.into() });
        }
    }
    Ok(())
}

/// pip's installation report (`--report`): every distribution downloaded from
/// `hosts`, with its hash.
pub(super) fn check_pip(report: &Path, hosts: &[String]) -> Result<(), ResolvedError> {
    let report = read_json(report)?;
    let installed = report["install"]
        .as_array()
        .ok_or(ResolvedError::NothingInstalled)?;
    for item in installed {
        let name = item["metadata"]["name"].as_str().unwrap_or("(unnamed)");
        let download = &item["download_info"];
        let url = download["url"].as_str().unwrap_or_default();
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        let from_registry = host.is_some_and(|h| hosts.contains(&h));
        if item["is_direct"] == true || !download["vcs_info"].is_null() || !from_registry {
            return Err(refused(name, url));
        }
        let archive = &download["archive_info"];
        let hashed = archive["hashes"].as_object().is_some_and(|h| !h.is_empty())
            || archive["hash"].is_string();
        if !hashed {
            return Err(ResolvedError::NoHash { name: name.into() });
        }
    }
    Ok(())
}

fn refused(name: &str, from: &str) -> ResolvedError {
    ResolvedError::FromElsewhere {
        name: name.into(),
        from: from.into(),
    }
}

fn read_json(path: &Path) -> Result<Value, ResolvedError> {
    let size = std::fs::metadata(path)
        .map_err(PathError::on("cannot read", path))?
        .len();
    if size > MAX_BYTES {
        return Err(ResolvedError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    let text = std::fs::read(path).map_err(PathError::on("cannot read", path))?;
    serde_json::from_slice(&text).map_err(|source| ResolvedError::NotJson {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn npm_tree(packages: Value) -> tempdir::Dir {
        let dir = tempdir::Dir::new();
        std::fs::create_dir_all(dir.0.join("node_modules")).unwrap();
        let lockfile = json!({"lockfileVersion": 3, "packages": packages});
        std::fs::write(
            dir.0.join("node_modules/.package-lock.json"),
            lockfile.to_string(),
        )
        .unwrap();
        dir
    }

    const REGISTRY: &str = "https://registry.npmjs.org/";

    #[test]
    fn an_npm_tree_from_the_registry_passes_and_anything_else_is_named() {
        let good = json!({
            "node_modules/a": {"version": "1.0.0",
                "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": "sha512-x"},
            "node_modules/a/node_modules/b": {"version": "2.0.0", "integrity": "sha512-y"},
        });
        check_npm(&npm_tree(good).0, REGISTRY).unwrap();
        let cases = [
            (
                "evil",
                json!({"resolved": "git+ssh://git@github.com/x/evil.git#abc", "integrity": "sha512-z"}),
            ),
            ("local", json!({"resolved": "../local", "link": true})),
            (
                "tarball",
                json!({"resolved": "https://evil.example/t.tgz", "integrity": "sha512-z"}),
            ),
            (
                "file",
                json!({"resolved": "file:../file.tgz", "integrity": "sha512-z"}),
            ),
            (
                "bare",
                json!({"resolved": "https://registry.npmjs.org/bare/-/bare-1.tgz"}),
            ),
        ];
        for (name, entry) in cases {
            let tree =
                npm_tree(json!({"": {}, format!("node_modules/a/node_modules/{name}"): entry}));
            let error = check_npm(&tree.0, REGISTRY).unwrap_err().to_string();
            assert!(error.contains(&format!("dependency {name} ")), "{error}");
        }
    }

    #[test]
    fn a_pip_report_from_the_index_passes_and_a_direct_url_is_named() {
        let dir = tempdir::Dir::new();
        let report = dir.0.join("report.json");
        let hosts = ["pypi.org".to_owned(), "files.pythonhosted.org".to_owned()];
        let item = |name: &str, url: &str, direct: bool| {
            json!({"metadata": {"name": name}, "is_direct": direct,
                   "download_info": {"url": url, "archive_info": {"hashes": {"sha256": "ab"}}}})
        };
        let write = |items: Vec<Value>| {
            std::fs::write(&report, json!({"install": items}).to_string()).unwrap();
        };
        write(vec![item(
            "ok",
            "https://files.pythonhosted.org/p/ok.whl",
            false,
        )]);
        check_pip(&report, &hosts).unwrap();
        write(vec![item("vcs", "https://github.com/x/vcs.git", true)]);
        assert!(
            check_pip(&report, &hosts)
                .unwrap_err()
                .to_string()
                .contains("dependency vcs ")
        );
        write(vec![item("away", "https://evil.example/away.whl", false)]);
        assert!(
            check_pip(&report, &hosts)
                .unwrap_err()
                .to_string()
                .contains("dependency away ")
        );
    }

    /// A directory removed when dropped.
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);

        impl Dir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static NEXT: AtomicU32 = AtomicU32::new(0);
                let n = NEXT.fetch_add(1, Ordering::Relaxed);
                let dir = std::env::temp_dir()
                    .join(format!("guidepost-resolved-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                Dir(dir)
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }
}
