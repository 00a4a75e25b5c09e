//! Podman for the container tests: a `podman system service` of the test's own (the
//! Docker Engine API on a socket in a temporary directory), and the tests' MCP server
//! image, built locally from busybox and `container_fixture/server.sh` (no registry is
//! reached). `scripts/install-test-tools` installs Podman, runc and busybox-static.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helpers::workspace_root;

/// A running Podman service, stopped when dropped.
pub struct Podman {
    pub socket: PathBuf,
    dir: PathBuf,
    child: tokio::process::Child,
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether Podman is installed; when it is not, the container tests fail in CI (which
/// installs it) and skip, counted, elsewhere (see `require_environment`).
pub fn required() -> bool {
    guidepost_testkit::require_environment(
        "Podman",
        installed(),
        "podman is not on PATH (scripts/install-test-tools installs it)",
    )
}

fn installed() -> bool {
    std::process::Command::new("podman")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Podman {
    pub async fn start() -> Podman {
        let dir = std::env::temp_dir().join(format!(
            "guidepost-podman-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("podman.sock");
        let child = tokio::process::Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("podman system service starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "no Podman socket after 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Podman { socket, dir, child }
    }
}

/// The tests' MCP server image, `localhost/guidepost-test-mcp:{hash}`, built once per
/// version of `server.sh`.
pub async fn test_image() -> String {
    let script = workspace_root().join("crates/guidepost/tests/it/container_fixture/server.sh");
    let text = std::fs::read(&script).unwrap();
    let hash = &guidepost_domain::hash_secret(&String::from_utf8_lossy(&text))[..12];
    let image = format!("localhost/guidepost-test-mcp:{hash}");
    let exists = tokio::process::Command::new("podman")
        .args(["image", "exists", &image])
        .status()
        .await
        .unwrap();
    if exists.success() {
        return image;
    }
    let root = std::env::temp_dir().join(format!("guidepost-image-{hash}-{}", std::process::id()));
    build_root(&root, &text);
    let tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout: Stdio = tar.stdout.unwrap().try_into().unwrap();
    let imported = tokio::process::Command::new("podman")
        .args(["import", "-", &image])
        .stdin(stdout)
        .output()
        .await
        .unwrap();
    assert!(
        imported.status.success(),
        "podman import: {}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let _ = std::fs::remove_dir_all(&root);
    image
}

/// A root file system: busybox (static) with the applets the server uses, and the server.
fn build_root(root: &Path, server: &[u8]) {
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).expect("busybox-static is installed");
    for applet in [
        "sh", "cat", "sed", "printf", "touch", "ls", "tr", "id", "nc", "head", "wc", "stat",
    ] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
    }
    std::fs::write(root.join("server.sh"), server).unwrap();
}
