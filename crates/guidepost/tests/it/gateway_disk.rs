//! A disk quota per upstream directory: an upstream's directory is a file
//! system of its own (`confine/disk.rs`), so one that writes past its quota gets ENOSPC
//! while the host keeps its disk; what it wrote within the quota outlives a restart;
//! the mount exists only in the upstream's namespace, and an uninstall leaves no image
//! and no loop device behind.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::gateway_confinement::hostile;
use crate::gateway_fixture::wait_for;

/// The `hostile-small` entry's quota (`gateway_confinement::hostile_catalog`).
const QUOTA_MIB: u64 = 32;
const MIB: u64 = 1024 * 1024;

/// The loop devices whose backing file is `image` (a removed one reads "… (deleted)").
fn loop_devices_of(image: &Path) -> Vec<String> {
    let image = image.display().to_string();
    let Ok(devices) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    devices
        .flatten()
        .filter(|device| {
            let backing = device.path().join("loop/backing_file");
            std::fs::read_to_string(backing).is_ok_and(|file| file.starts_with(&image))
        })
        .map(|device| device.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Waits until no loop device is backed by `image`.
async fn detached(image: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let devices = loop_devices_of(image);
        if devices.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{devices:?} still attached to {}",
            image.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mounted_on_host(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = format!(" {} ", dir.display());
    mounts.lines().any(|line| line.contains(&dir))
}

backend_tests! {
    async fn an_upstream_that_writes_past_its_quota_gets_enospc_and_the_host_keeps_its_disk(db: &TestDatabase) {
        // SAFETY: geteuid only reads.
        let root = unsafe { libc::geteuid() } == 0;
        if !guidepost_testkit::require_environment("root", root, "loop devices are root's to attach") {
            return;
        }
        let h = hostile(db, |_| {}).await;
        let id = h.install("hostile-small", "hs").await;
        let me = h.probe("hs__whoami", json!({})).await;
        let dir = PathBuf::from(me["cwd"].as_str().unwrap());
        let image = dir.with_file_name(format!("{id}.disk"));

        let kept = h.probe("hs__fill", json!({"mib": 1, "name": "kept"})).await;
        assert_eq!(kept["written_mib"], 1, "{kept}");
        let full = h.refused("hs__fill", json!({"mib": 4 * QUOTA_MIB})).await;
        assert_eq!(full["errno"], libc::ENOSPC, "{full}");
        let written = full["written_mib"].as_u64().unwrap();
        eprintln!("[disk] wrote {written} MiB into a {QUOTA_MIB} MiB directory before ENOSPC");
        assert!((QUOTA_MIB / 2..QUOTA_MIB).contains(&written), "{full}");

        // The host holds the image, no larger than the quota, and nothing beneath it.
        let held = std::fs::metadata(&image).unwrap();
        assert_eq!(held.len(), QUOTA_MIB * MIB);
        assert!(held.blocks() * 512 <= QUOTA_MIB * MIB, "{} bytes on disk", held.blocks() * 512);
        assert!(!dir.join("filler").exists(), "the file is in the image, not the host's directory");
        assert!(!mounted_on_host(&dir), "mounted in the upstream's namespace only");
        let echoed = h.probe("hs__echo", json!({"message": "still here"})).await;
        assert_eq!(echoed["message"], "still here");

        // What it wrote outlives a restart, and the quota still holds.
        let path = format!("/upstreams/{id}/restart");
        let (status, _) = h.app.api(Method::POST, &path, &h.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        wait_for(&h.app, &h.acme, &id, |u| u["status"] == "ready").await;
        let read = h.probe("hs__read", json!({"path": "kept"})).await;
        assert_eq!(read["bytes"], 64, "{read}");
        let again = h.refused("hs__fill", json!({"mib": QUOTA_MIB, "name": "more"})).await;
        assert_eq!(again["errno"], libc::ENOSPC, "{again}");
        assert_eq!(loop_devices_of(&image).len(), 1, "one device for the image");

        // An uninstall leaves neither the image nor its loop device.
        let (status, _) = h.app.api(Method::DELETE, &format!("/upstreams/{id}"), &h.acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        detached(&image).await;
        assert!(!image.exists(), "{} is removed", image.display());
        let _ = std::fs::remove_dir_all(&h.dir);
    }
}
