//! Tenants apart: two organizations' process upstreams on one node run as the
//! same user, yet neither can see, signal, `prlimit` or renice the other's processes,
//! nor reach its SysV shared memory; a segment an upstream made is gone when it is
//! (after a restart, after an uninstall), whatever it pinned of the host's memory; vsock,
//! which no namespace fences, is refused. Each upstream has PID and IPC namespaces of its
//! own (`confine/child.rs`) and seccomp refuses `AF_VSOCK` (`confine/seccomp.rs`).

use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::gateway_confinement::{hostile, probe_on, refused_on};
use crate::gateway_fixture::{host_pid, stat_fields, wait_for};
use crate::helpers::{RawMcp, STATELESS_ERA};

/// The segment the upstreams make: 300 MiB, within their 512 MiB.
const SEGMENT_MIB: u64 = 300;
/// How much of it the host's shared memory must show, and give back.
const SEEN_MIB: u64 = 250;

/// The host's shared memory in all (`Shmem` of /proc/meminfo), in MiB.
fn host_shmem_mib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = meminfo.lines().find(|l| l.starts_with("Shmem:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

/// Waits until the host's shared memory is at most `mib`.
async fn shmem_falls_to(mib: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = host_shmem_mib();
        if now <= mib {
            eprintln!("[tenants] host Shmem back to {now} MiB (bound {mib} MiB)");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "host Shmem still {now} MiB, over {mib} MiB"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A process's nice value, read by the host (field 19 of its stat, the state being 3).
fn nice_of(pid: i64) -> i64 {
    stat_fields(pid).expect("it runs")[19 - 3].parse().unwrap()
}

/// Holds the host's shared memory to this test while it lives: the host's `Shmem` is
/// one number, and the SQLite and PostgreSQL variants run at once in processes of
/// their own.
struct ShmemTurn(#[allow(dead_code, reason = "held for its lock")] std::fs::File);

impl ShmemTurn {
    fn take() -> Self {
        use std::os::fd::AsRawFd;
        let path = std::env::temp_dir().join("guidepost-test-shmem.lock");
        let file = std::fs::File::create(path).unwrap();
        // SAFETY: flock on a descriptor we own; it blocks until the other variant is done.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
        ShmemTurn(file)
    }
}

backend_tests! {
    async fn organizations_upstreams_cannot_see_limit_renice_or_share_memory_with_each_other(db: &TestDatabase) {
        let _turn = tokio::task::spawn_blocking(ShmemTurn::take).await.unwrap();
        let h = hostile(db, |_| {}).await;
        let theirs = h.install("hostile", "hx").await;
        let globex = h.app.create_tenant("Globex").await;
        h.app.trust_new_tools(&globex).await;
        let server = h.app.create_server(&globex, "globex", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        h.install_for(&globex, &server, "hostile", "gx").await;
        let mine = RawMcp::new(h.app.mcp_path_url("globex"), STATELESS_ERA);

        let before = host_shmem_mib();
        let made = h.probe("hx__shm_create", json!({"key": 4711, "mib": SEGMENT_MIB})).await;
        assert_eq!(made["ok"], true, "{made}");
        let peak = host_shmem_mib();
        eprintln!("[tenants] host Shmem {before} MiB → {peak} MiB with the segment");
        assert!(peak >= before + SEEN_MIB, "the segment holds host memory: {before} → {peak}");
        let victim = h.probe("hx__whoami", json!({})).await;
        let victim = host_pid(victim["identity"].as_str().unwrap().parse().unwrap()).unwrap();

        // Globex's upstream sees only its own namespace: init and itself.
        let seen = probe_on(&mine, "gx__visible", json!({})).await;
        assert!(seen["count"].as_i64().unwrap() <= 3, "{seen}");
        assert!(seen["pids"].as_array().unwrap().iter().all(|p| p.as_i64().unwrap() < 10), "{seen}");
        for tool in ["gx__signal", "gx__prlimit", "gx__renice"] {
            refused_on(&mine, tool, json!({"pid": victim})).await;
        }
        // Every process of the shared user: its own only.
        let _ = probe_on(&mine, "gx__renice", json!({})).await;
        assert_eq!(nice_of(victim), 0, "Acme's upstream was not reniced");
        let read = refused_on(&mine, "gx__shm_attach", json!({"key": 4711, "shmid": made["shmid"]})).await;
        assert_eq!(read["key_errno"], libc::ENOENT, "no such key in its namespace: {read}");
        let vsock = refused_on(&mine, "gx__vsock", json!({})).await;
        assert_eq!(vsock["errno"], libc::EPERM, "{vsock}");
        // Acme's upstream still answers, its open-file limit untouched.
        let echoed = h.probe("hx__echo", json!({"message": "unharmed"})).await;
        assert_eq!(echoed["message"], "unharmed", "{echoed}");

        // The segment dies with the upstream: after a restart…
        let (status, _) = h.app.api(Method::POST, &format!("/upstreams/{theirs}/restart"), &h.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        shmem_falls_to(peak - SEEN_MIB).await;
        wait_for(&h.app, &h.acme, &theirs, |u| u["status"] == "ready").await;
        // …and after an uninstall.
        let again = h.probe("hx__shm_create", json!({"key": 4711, "mib": SEGMENT_MIB})).await;
        assert_eq!(again["ok"], true, "a fresh namespace, a fresh key: {again}");
        let peak = host_shmem_mib();
        let (status, _) = h.app.api(Method::DELETE, &format!("/upstreams/{theirs}"), &h.acme.key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        shmem_falls_to(peak - SEEN_MIB).await;
        let _ = std::fs::remove_dir_all(&h.dir);
    }
}

/// The range the uid test reserves: nothing on a test machine uses it.
const UIDS: (u32, u32) = (3_100_000, 3_100_999);

backend_tests! {
    async fn with_a_reserved_range_each_upstream_runs_as_a_uid_of_its_own(db: &TestDatabase) {
        let range = format!("{}-{}", UIDS.0, UIDS.1).parse().unwrap();
        let h = hostile(db, move |settings| settings.gateway.confinement.uids = Some(range)).await;
        let first = h.install("hostile", "hx").await;
        h.install("hostile", "nb").await;
        let mine = h.probe("hx__whoami", json!({})).await;
        let theirs = h.probe("nb__whoami", json!({})).await;
        let uid = |me: &serde_json::Value| me["uid"].as_u64().unwrap() as u32;
        let in_range = |u: u32| (UIDS.0..=UIDS.1).contains(&u);
        assert!(in_range(uid(&mine)) && in_range(uid(&theirs)), "{mine} {theirs}");
        assert_ne!(uid(&mine), uid(&theirs), "a uid each");
        assert_eq!(mine["gid"], mine["uid"]);
        // Its directory is its own (the record of its uid), and writable by it.
        use std::os::unix::fs::MetadataExt;
        let dir = std::path::Path::new(mine["home"].as_str().unwrap());
        assert_eq!(std::fs::metadata(dir).unwrap().uid(), uid(&mine));
        let own = format!("{}/own.txt", mine["home"].as_str().unwrap());
        assert_eq!(h.probe("hx__write", json!({"path": own})).await["ok"], true);
        // The user of neither is renicing the other's processes: another uid entirely.
        let _ = h.probe("nb__renice", json!({})).await;
        let victim = host_pid(mine["identity"].as_str().unwrap().parse().unwrap()).unwrap();
        assert_eq!(nice_of(victim), 0);
        // A restart keeps the uid.
        let path = format!("/upstreams/{first}/restart");
        let (status, _) = h.app.api(Method::POST, &path, &h.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        wait_for(&h.app, &h.acme, &first, |u| u["status"] == "ready").await;
        let again = h.probe("hx__whoami", json!({})).await;
        assert_eq!(uid(&again), uid(&mine), "the same uid after a restart");
        let _ = std::fs::remove_dir_all(&h.dir);
    }
}
