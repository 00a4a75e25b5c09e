//! Running an installer (npm, pip) the way an upstream runs: a package's installer runs
//! code of the package's author (npm prepares git dependencies with a nested install
//! whose `.npmrc` may name any program as `git`, `--ignore-scripts` or not), so it gets
//! what a process upstream gets (`Confiner::prepare_install`): the upstream user, its own
//! cgroup and namespaces, Landlock limited to its target directory and a scratch HOME,
//! and the network only through the egress fence, only to the configured registry. Its
//! environment is built from nothing: never a `GUIDEPOST_*` variable or another secret of
//! the platform, only the certificate settings the operator gave Guidepost. Git is
//! switched off for both installers, and what they resolved is checked afterwards
//! (`resolved.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::resolved::{self, ResolvedError};
use super::toolchain::Toolchain;
use crate::confine::{ConfineError, Confiner, Prepared, located, proxy_url, runtime_dirs};
use crate::path_error::PathError;

/// How long an `npm install` or `pip install` may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);
/// npm's own registry, and PyPI's index and file hosts: where installs go by default.
const NPM_REGISTRY: &str = "https://registry.npmjs.org/";
const PYPI_HOSTS: [&str; 2] = ["pypi.org", "files.pythonhosted.org"];
/// What both installers are given as their `git`: a path that cannot exist (`/dev/null`
/// is a file), so that no dependency is ever fetched with git, nor any program that a
/// fetched `.npmrc` names as git run (npm's environment settings outrank a project's).
const NO_GIT: &str = "/dev/null/guidepost-fetches-no-git";
/// The operator's certificate settings, passed on (with read access to what they name)
/// so that an installer trusts what Guidepost trusts; nothing else of its environment is.
const CERTIFICATE_VARIABLES: [&str; 5] = [
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
];

/// Why an install failed: its confinement, the installer itself, or what it resolved.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Confine(#[from] ConfineError),
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("{what} {spec} took longer than {FETCH_TIMEOUT:?}")]
    TimedOut { what: &'static str, spec: String },
    #[error("cannot run {what}: {source}")]
    NotRun {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{what} {spec} refused: {named} is fetched with git, and Guidepost \
         installs only from the registry"
    )]
    GitDependency {
        what: &'static str,
        spec: String,
        /// `its dependency {name}`, or `a dependency` when npm's logs do not say.
        named: String,
    },
    #[error("{what} {spec} failed: {said}")]
    Failed {
        what: &'static str,
        spec: String,
        /// The last of what it wrote to stderr.
        said: String,
    },
    #[error(transparent)]
    Resolved(#[from] ResolvedError),
}

/// Installs packages for one toolchain, confined by `confiner` (`None`: the benchmark's
/// unconfined baseline, still with an environment built from nothing).
pub(super) struct Installer<'a> {
    toolchain: &'a Toolchain,
    confiner: Option<&'a Confiner>,
}

/// One installer run: its program, arguments and environment, and what it may reach.
struct Run<'a> {
    what: &'static str,
    spec: &'a str,
    program: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    read: Vec<PathBuf>,
    registries: Vec<String>,
}

impl<'a> Installer<'a> {
    pub fn new(toolchain: &'a Toolchain, confiner: Option<&'a Confiner>) -> Self {
        Self {
            toolchain,
            confiner,
        }
    }

    /// `npm install` of `spec` into `prefix`, then the resolved tree checked.
    pub async fn npm(&self, prefix: PathBuf, spec: &str) -> Result<(), InstallError> {
        let registry = self
            .toolchain
            .npm_registry
            .as_deref()
            .unwrap_or(NPM_REGISTRY);
        let scratch = scratch_of(&prefix);
        let mut args: Vec<String> = [
            "install",
            "--no-save",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--loglevel",
            "error",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(["--prefix".into(), prefix.display().to_string()]);
        args.extend(["--registry".into(), registry.to_owned()]);
        // Whatever follows `--` is a package spec to npm, never an option (`-g`).
        args.extend(["--".into(), spec.to_owned()]);
        let mut env = base_env(&scratch);
        // Bare names (`npm`, `node`) as Guidepost's PATH finds them: the installer's PATH
        // is its own.
        let npm = located(&self.toolchain.npm);
        let node = located(&self.toolchain.node);
        if let Some(node_dir) = node.parent().filter(|d| !d.as_os_str().is_empty()) {
            // npm's own scripts find `node` on PATH.
            let path = format!("{}:{}", node_dir.display(), env["PATH"]);
            env.insert("PATH".into(), path);
        }
        let settings = [
            (
                "npm_config_cache",
                scratch.join("npm-cache").display().to_string(),
            ),
            // No user configuration: a file that does not exist.
            (
                "npm_config_userconfig",
                scratch.join("npmrc").display().to_string(),
            ),
            ("npm_config_git", NO_GIT.to_owned()),
            ("npm_config_update_notifier", "false".to_owned()),
        ];
        env.extend(settings.map(|(k, v)| (k.to_owned(), v)));
        let mut read = runtime_dirs(&npm);
        read.push(npm.clone());
        let run = Run {
            what: "npm install",
            spec,
            program: npm,
            args,
            env,
            read,
            registries: host_of(registry).into_iter().collect(),
        };
        let checked = || resolved::check_npm(&prefix, registry);
        self.run(run, &prefix, &scratch, checked).await
    }

    /// `pip install --target` of `spec` (wheels only: no build code runs), then what it
    /// resolved checked against its report.
    pub async fn pip(&self, target: PathBuf, spec: &str) -> Result<(), InstallError> {
        let scratch = scratch_of(&target);
        let report = scratch.join("report.json");
        let mut args: Vec<String> = [
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
            "--quiet",
            "--only-binary",
            ":all:",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(["--report".into(), report.display().to_string()]);
        args.extend(["--target".into(), target.display().to_string()]);
        let registries: Vec<String> = match &self.toolchain.pypi_index_url {
            Some(index) => {
                args.extend(["--index-url".into(), index.clone()]);
                host_of(index).into_iter().collect()
            }
            None => PYPI_HOSTS.map(str::to_owned).to_vec(),
        };
        // Whatever follows `--` is a requirement to pip, never an option (`--prefix`).
        args.extend(["--".into(), spec.to_owned()]);
        let mut env = base_env(&scratch);
        // No configuration file of the host's: what pip does is what these arguments say.
        env.insert("PIP_CONFIG_FILE".into(), "/dev/null".into());
        env.insert("PYTHONNOUSERSITE".into(), "1".into());
        let python = located(&self.toolchain.python);
        let run = Run {
            what: "pip install",
            spec,
            program: python,
            args,
            env,
            read: Vec::new(),
            registries: registries.clone(),
        };
        let checked = || resolved::check_pip(&report, &registries);
        self.run(run, &target, &scratch, checked).await
    }

    /// Runs one installer confined, with a time limit (its error says what it printed
    /// last), then `checked` on what it resolved. Its scratch directory is removed,
    /// whatever happened, and the installed tree is given back to Guidepost's user, so
    /// that no upstream can change it later.
    async fn run(
        &self,
        run: Run<'_>,
        target: &Path,
        scratch: &Path,
        checked: impl FnOnce() -> Result<(), ResolvedError>,
    ) -> Result<(), InstallError> {
        tokio::fs::create_dir_all(scratch)
            .await
            .map_err(PathError::on("cannot create", scratch))?;
        let outcome = self
            .run_in(run, target, scratch)
            .await
            .and_then(|()| checked().map_err(InstallError::from));
        let _ = tokio::fs::remove_dir_all(scratch).await;
        outcome?;
        reclaim(target).map_err(PathError::on("cannot take back", target))?;
        Ok(())
    }

    async fn run_in(
        &self,
        mut run: Run<'_>,
        target: &Path,
        scratch: &Path,
    ) -> Result<(), InstallError> {
        for name in CERTIFICATE_VARIABLES {
            if let Some(value) = std::env::var_os(name).and_then(|v| v.into_string().ok()) {
                run.read.push(PathBuf::from(&value));
                run.env.insert(name.to_owned(), value);
            }
        }
        run.read.retain(|path| path.exists());
        let mut prepared = match self.confiner {
            Some(confiner) => {
                confiner.prepare_install(target, scratch, run.read, run.registries)?
            }
            None => Prepared::unconfined(),
        };
        let mut command = tokio::process::Command::new(&run.program);
        command
            .args(&run.args)
            .current_dir(scratch)
            .env_clear()
            .envs(&run.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if prepared.egress.is_some() {
            // npm reads its proxy from its own settings.
            let proxy = proxy_url();
            command.env("npm_config_proxy", &proxy);
            command.env("npm_config_https_proxy", &proxy);
        }
        prepared.apply(&mut command);
        let output = tokio::time::timeout(FETCH_TIMEOUT, command.output()).await;
        // Whatever it left running (a timeout, a daemon) dies with its cgroup.
        if let Some(cgroup) = prepared.cgroup.take() {
            cgroup.stop().await;
        }
        let (what, spec) = (run.what, run.spec.to_owned());
        let output = match output {
            Ok(Ok(output)) => output,
            Ok(Err(source)) => return Err(InstallError::NotRun { what, source }),
            Err(_) => return Err(InstallError::TimedOut { what, spec }),
        };
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail = last_chars(stderr.trim(), 1000);
        // npm spawning the `git` it was given fails with ENOTDIR (`/dev/null` is a file).
        let git_refused = ["spawn ENOTDIR", NO_GIT, "git dep preparation"];
        if git_refused.iter().any(|sign| tail.contains(sign)) {
            let named = git_dependency_in_logs(&scratch.join("npm-cache").join("_logs"))
                .map(|dependency| format!("its dependency {dependency}"))
                .unwrap_or_else(|| "a dependency".to_owned());
            return Err(InstallError::GitDependency { what, spec, named });
        }
        Err(InstallError::Failed {
            what,
            spec,
            said: tail,
        })
    }
}

/// The first dependency spec that names a git source (`name@git+…`, `github:…`) in
/// npm's debug logs under `logs`: npm's own error says only that spawning git failed.
fn git_dependency_in_logs(logs: &Path) -> Option<String> {
    const READ: u64 = 4 * 1024 * 1024;
    let entries = std::fs::read_dir(logs).ok()?;
    for entry in entries.flatten() {
        let Ok(file) = std::fs::File::open(entry.path()) else {
            continue;
        };
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::Read::take(file, READ), &mut text);
        let found = text.split_whitespace().find(|word| {
            ["@git+", "@git:", "@github:", "@ssh:"]
                .iter()
                .any(|source| word.contains(source))
        });
        if let Some(word) = found {
            let word = word.trim_matches(|c: char| "'\",`()[]{}".contains(c));
            return Some(last_chars(word, 300));
        }
    }
    None
}

/// PATH, HOME and TMPDIR, git switched off: what every installer starts from.
fn base_env(scratch: &Path) -> BTreeMap<String, String> {
    let scratch = scratch.display().to_string();
    let mut env = BTreeMap::new();
    env.insert("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into());
    env.insert("HOME".into(), scratch.clone());
    env.insert("TMPDIR".into(), scratch);
    // Should anything run git all the same: no protocol allowed, no system config.
    env.insert("GIT_ALLOW_PROTOCOL".into(), String::new());
    env.insert("GIT_CONFIG_NOSYSTEM".into(), "1".into());
    env.insert("GIT_TERMINAL_PROMPT".into(), "0".into());
    env
}

/// The scratch directory (HOME, TMPDIR, caches) of an install into `target`.
fn scratch_of(target: &Path) -> PathBuf {
    PathBuf::from(format!("{}.home", target.display()))
}

/// The host of a registry's URL, which the installer's fence lets it reach.
fn host_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.host_str()?.trim_matches(['[', ']']).to_owned())
}

/// The last `n` characters of `text`.
fn last_chars(text: &str, n: usize) -> String {
    let skip = text.chars().count().saturating_sub(n);
    text.chars().skip(skip).collect()
}

/// Gives everything under `dir` back to Guidepost's own user (the installer ran as the
/// upstream user): a package in the cache is read by upstreams, never changed by one.
fn reclaim(dir: &Path) -> std::io::Result<()> {
    // SAFETY: both only read the calling process's ids.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path)?;
        std::os::unix::fs::lchown(&path, Some(uid), Some(gid))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_reached_by_host_only() {
        assert_eq!(host_of(NPM_REGISTRY).as_deref(), Some("registry.npmjs.org"));
        assert_eq!(
            host_of("http://127.0.0.1:4873/npm/").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(host_of("http://[::1]:8080/").as_deref(), Some("::1"));
        assert_eq!(host_of("not a url"), None);
    }

    #[test]
    fn an_installer_starts_from_no_environment_of_the_platform() {
        let env = base_env(Path::new("/cache/npm/x.partial.home"));
        assert!(env.keys().all(|k| !k.starts_with("GUIDEPOST")));
        assert_eq!(env["HOME"], "/cache/npm/x.partial.home");
        assert_eq!(env["GIT_ALLOW_PROTOCOL"], "");
        assert_eq!(last_chars("abcdef", 3), "def");
    }
}
