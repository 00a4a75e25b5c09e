//! The `--config` file through the binary: a layer under the flags and the environment,
//! for `serve` and for the commands that write public URLs as `serve` would.

use std::path::PathBuf;
use std::process::Output;

use guidepost_testkit::{TestBackend, TestDatabase};
use serde_json::Value;

/// A config file of its own, removed when dropped.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(name: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("gp-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("guidepost.toml");
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        std::fs::remove_dir_all(self.0.parent().unwrap()).ok();
    }
}

/// `guidepost --config FILE <args>` with `env` added to a clean `GUIDEPOST_*` environment.
async fn guidepost(file: &ConfigFile, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"));
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("GUIDEPOST_")) {
        command.env_remove(name);
    }
    command
        .arg("--config")
        .arg(&file.0)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The MCP URL `server create` prints for a new server `slug` (of a new organization).
async fn mcp_url(file: &ConfigFile, db: &TestDatabase, slug: &str, env: &[(&str, &str)]) -> String {
    let run = async |args: &[&str]| -> Value {
        let args = [&["--json", "--database-url", db.url.as_str()], args].concat();
        let output = guidepost(file, &args, env).await;
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", stderr(&output)))
    };
    let org = run(&["org", "create", "--name", "Acme"]).await;
    let org_id = org["organization"]["id"].as_str().unwrap();
    let server = run(&[
        "server", "create", "--org", org_id, "--name", slug, "--slug", slug,
    ])
    .await;
    server["mcp_url"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn public_urls_come_from_the_config_file_and_the_environment_beats_it() {
    let db = TestDatabase::create(TestBackend::Sqlite).await;
    let file = ConfigFile::new(
        "urls",
        "base_domain = \"file.example\"\nlisten = \"0.0.0.0:9000\"",
    );
    assert_eq!(
        mcp_url(&file, &db, "docs", &[]).await,
        "http://docs.file.example:9000/mcp"
    );
    let env = [("GUIDEPOST_BASE_DOMAIN", "env.example")];
    assert_eq!(
        mcp_url(&file, &db, "api", &env).await,
        "http://api.env.example:9000/mcp"
    );
}

#[tokio::test]
async fn serve_takes_the_config_file_under_the_environment_and_the_flags() {
    let file = ConfigFile::new("serve", "base_domain = \"not/a/host\"\nretention_days = 0");
    let from_file = guidepost(&file, &["serve"], &[]).await;
    assert!(!from_file.status.success());
    assert!(
        stderr(&from_file).contains("--base-domain must be a host name"),
        "{}",
        stderr(&from_file)
    );
    // The environment's base domain wins, so the file's retention is what is refused.
    let env = [("GUIDEPOST_BASE_DOMAIN", "ok.example")];
    let env_over_file = guidepost(&file, &["serve"], &env).await;
    assert!(
        stderr(&env_over_file).contains("--retention-days must be at least 1"),
        "{}",
        stderr(&env_over_file)
    );
    // A flag wins over both: the next setting checked is refused.
    let env = [env[0], ("GUIDEPOST_RETENTION_DAYS", "0")];
    let flags = ["serve", "--retention-days=7", "--store-timeout=0"];
    let flag_over_both = guidepost(&file, &flags, &env).await;
    assert!(
        stderr(&flag_over_both).contains("--store-timeout must be at least 1 second"),
        "{}",
        stderr(&flag_over_both)
    );
}

#[tokio::test]
async fn a_config_file_with_an_unknown_key_is_refused_naming_the_key_and_the_file() {
    let file = ConfigFile::new("unknown", "listen_port = 8080");
    let refused = guidepost(&file, &["migrate"], &[]).await;
    assert!(!refused.status.success());
    let error = stderr(&refused);
    assert!(
        error.contains("`listen_port`") && error.contains("unknown key"),
        "{error}"
    );
    assert!(error.contains(file.0.to_str().unwrap()), "{error}");
}
