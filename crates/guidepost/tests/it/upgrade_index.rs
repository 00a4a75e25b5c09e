//! A PyPI index of the tests' own (PEP 503's simple API, served on a loopback port) that
//! publishes the gateway fixture (`upstream_fixture.py`) as the package
//! `gp-upgrade-fixture` in several versions, each a real wheel: what the upgrade tests
//! install and upgrade through the platform's own fetch (`--pypi-index-url`).

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

use crate::helpers::python;

pub const PACKAGE: &str = "gp-upgrade-fixture";
const MODULE: &str = "gp_upgrade_fixture";

/// One published version: its descriptions replace or add the fixture's tools.
pub struct Release {
    pub version: &'static str,
    pub descriptions: Value,
}

/// The index, serving until dropped.
pub struct PackageIndex {
    /// `http://127.0.0.1:{port}/simple/`, for `--pypi-index-url`.
    pub url: String,
    dir: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for PackageIndex {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl PackageIndex {
    /// Builds a wheel per release into a fresh directory and serves them.
    pub async fn publish(releases: &[Release]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "guidepost-pypi-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for release in releases {
            build_wheel(&dir, release);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/simple/", listener.local_addr().unwrap());
        let files = dir.clone();
        let page = project_page(&dir, releases);
        let router = Router::new()
            .route(
                &format!("/simple/{PACKAGE}/"),
                get(move || async move {
                    ([(header::CONTENT_TYPE, "text/html")], page.clone()).into_response()
                }),
            )
            .route(
                "/files/{name}",
                get(move |UrlPath(name): UrlPath<String>| async move {
                    match std::fs::read(files.join(&name)) {
                        Ok(bytes) if !name.contains('/') => bytes.into_response(),
                        _ => StatusCode::NOT_FOUND.into_response(),
                    }
                }),
            );
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, dir, server }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn wheel_name(version: &str) -> String {
    format!("{MODULE}-{version}-py3-none-any.whl")
}

/// The project's page of the simple API: a link per wheel, with its hash as PyPI gives
/// it (Guidepost refuses a distribution the index gives no hash for).
fn project_page(dir: &Path, releases: &[Release]) -> String {
    use sha2::Digest;
    let links: String = releases
        .iter()
        .map(|r| {
            let name = wheel_name(r.version);
            let wheel = std::fs::read(dir.join(&name)).unwrap();
            let digest: String = sha2::Sha256::digest(&wheel)
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect();
            format!("<a href=\"/files/{name}#sha256={digest}\">{name}</a><br>\n")
        })
        .collect();
    format!("<!DOCTYPE html><html><body>\n{links}</body></html>\n")
}

/// The fixture with its `RELEASE` line set, packaged as a wheel (built by Python's own
/// `zipfile`, with a RECORD of hashes as pip expects).
fn build_wheel(dir: &Path, release: &Release) {
    let source = include_str!("upstream_fixture.py");
    let marker = r#"RELEASE = {"version": None, "descriptions": {}}"#;
    assert!(source.contains(marker), "the fixture's RELEASE line moved");
    let stamped = json!({"version": release.version, "descriptions": release.descriptions});
    let module = source.replace(marker, &format!("RELEASE = {stamped}"));
    let module_file = dir.join(format!("{}.py", release.version));
    std::fs::write(&module_file, module).unwrap();
    let script = r#"
import base64, hashlib, sys, zipfile
module_file, wheel, name, module, version = sys.argv[1:6]
info = f"{module}-{version}.dist-info"
files = {
    f"{module}/__init__.py": open(module_file, "rb").read(),
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
    f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: guidepost-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    f"{info}/entry_points.txt": f"[console_scripts]\n{name} = {module}:main\n".encode(),
}
record = []
with zipfile.ZipFile(wheel, "w") as z:
    for path, data in files.items():
        z.writestr(path, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
"#;
    let wheel = dir.join(wheel_name(release.version));
    let status = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&module_file)
        .arg(&wheel)
        .arg(PACKAGE)
        .arg(MODULE)
        .arg(release.version)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "building the wheel of {}",
        release.version
    );
}
