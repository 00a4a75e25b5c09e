//! Backups: `guidepost backup --to` copies a SQLite database while it serves
//! tool calls, and `guidepost restore` puts the copy in place of a database, which then
//! serves with every call acknowledged before the backup began. A copy from a newer
//! Guidepost is refused naming both versions; a restore over a database in use is refused.
//! On PostgreSQL, `backup --to` points at pg_dump and `backup --check` confirms the schema.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use guidepost_testkit::{TestBackend, TestDatabase, backend_tests};
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{personal_client, spawn_app_with, unlimited_app_with_server};

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn guidepost(url: &str, args: &[&str]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args(["--database-url", url])
        .args(args)
        .output()
        .await
        .expect("the binary runs");
    Run {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn scratch() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "guidepost-backup-{}",
        guidepost_domain::random_token("").to_lowercase()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The highest schema version this binary knows, as `backup --check` reports it.
fn binary_version(run: &Run) -> String {
    let after = run
        .stdout
        .split("this Guidepost: ")
        .nth(1)
        .expect("the versions");
    after.trim_end().trim_end_matches(')').to_owned()
}

backend_tests! {
    async fn a_backup_taken_under_load_restores_into_a_database_that_serves(db: &TestDatabase) {
        let dir = scratch();
        let copy = dir.join("backup.db");
        if db.backend == TestBackend::Postgres {
            let refused = guidepost(&db.url, &["backup", "--to", text(&copy)]).await;
            assert!(!refused.ok && refused.stderr.contains("pg_dump"), "{}", refused.stderr);
            assert!(!copy.exists());
            let _ = guidepost_store::connect(&db.url).await.unwrap();
            let checked = guidepost(&db.url, &["backup", "--check"]).await;
            assert!(checked.ok, "{}", checked.stderr);
            assert!(checked.stdout.contains(&format!("schema version {}", binary_version(&checked))), "{}", checked.stdout);
            return;
        }
        let (app, acme, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let walkthrough = app.seed_walkthrough(&acme, "Intro", 3, Some((&server, 1))).await;
        let app = Arc::new(app);

        // Two clients start the walkthrough as ever new people until told to stop; each
        // acknowledged call is noted (its progress is written before the answer).
        let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = Vec::new();
        for worker in 0..2 {
            let (app, acknowledged, stop, id) = (app.clone(), acknowledged.clone(), stop.clone(), walkthrough.id.clone());
            load.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let person = format!("load-{worker}-{n}");
                    let answer = personal_client(&app, "acme", &person)
                        .call_tool(1, "select_walkthrough", json!({"walkthrough_id": id})).await;
                    answer.structured();
                    acknowledged.lock().unwrap().push(person);
                    n += 1;
                }
            }));
        }
        while acknowledged.lock().unwrap().len() < 30 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let before_backup = acknowledged.lock().unwrap().clone();
        let backed_up = guidepost(&db.url, &["backup", "--to", text(&copy)]).await;
        assert!(backed_up.ok, "{}", backed_up.stderr);
        let during = acknowledged.lock().unwrap().len() - before_backup.len();
        stop.store(true, Ordering::Relaxed);
        for worker in load {
            worker.await.unwrap();
        }
        println!("{} calls acknowledged before the backup, {during} while it ran", before_backup.len());
        assert!(during > 0, "the load went on while the backup ran");

        // A backup never overwrites; a restore over the serving database is refused.
        let again = guidepost(&db.url, &["backup", "--to", text(&copy)]).await;
        assert!(!again.ok && again.stderr.contains("exists"), "{}", again.stderr);
        let over_live = guidepost(&db.url, &["restore", "--from", text(&copy)]).await;
        assert!(!over_live.ok && over_live.stderr.contains("-wal") && over_live.stderr.contains("Stop it first"), "{}", over_live.stderr);

        let restored_url = format!("sqlite:{}", text(&dir.join("restored.db")));
        assert!(backed_up.stdout.contains("backup.db-analytics"), "{}", backed_up.stdout);
        let restored = guidepost(&restored_url, &["restore", "--from", text(&copy)]).await;
        assert!(restored.ok, "{}", restored.stderr);
        assert!(restored.stdout.contains("restored.db-analytics"), "{}", restored.stdout);
        let checked = guidepost(&restored_url, &["backup", "--check"]).await;
        assert!(checked.ok, "{} {}", checked.stdout, checked.stderr);
        // Two files each: the database and its recorded calls beside it.
        for file in ["backup.db-analytics", "restored.db-analytics"] {
            assert!(dir.join(file).is_file(), "{file}");
        }

        // The restored database serves, with every call acknowledged before the backup.
        let restored_app = spawn_app_with(db, |s| s.database_url = restored_url.clone()).await;
        for person in &before_backup {
            let (status, found) = restored_app.get(&format!("/end-users?tracking_id={person}"), &acme.key).await;
            assert_eq!(status, reqwest::StatusCode::OK, "{found}");
            let id = found["items"][0]["id"].as_str().unwrap_or_else(|| panic!("{person} is in the backup"));
            let (_, picture) = restored_app.get(&format!("/end-users/{id}"), &acme.key).await;
            assert_eq!(picture["progress"][0]["walkthrough_id"], walkthrough.id.as_str(), "{picture}");
        }
        personal_client(&restored_app, "acme", "after-restore")
            .call_tool(1, "select_walkthrough", json!({"walkthrough_id": walkthrough.id})).await.structured();
        let _ = std::fs::remove_dir_all(&dir);
    }

    async fn a_copy_from_a_newer_guidepost_is_refused_naming_both_versions(db: &TestDatabase) {
        if db.backend == TestBackend::Postgres {
            // `restore` is SQLite's (PostgreSQL's is pg_restore): a database a newer
            // Guidepost migrated is refused at the check and at connect, both versions named.
            drop(guidepost_store::connect(&db.url).await.unwrap());
            let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                         VALUES (9999, 'from a newer Guidepost', TRUE, '\\x00', 0)")
                .execute(&mut connection).await.unwrap();
            connection.close().await.unwrap();
            let checked = guidepost(&db.url, &["backup", "--check"]).await;
            assert!(!checked.ok && checked.stderr.contains("9999") && checked.stderr.contains("newer"), "{}", checked.stderr);
            let refused = guidepost_store::connect(&db.url).await.err().expect("a newer schema is refused");
            assert!(refused.to_string().contains("9999"), "{refused}");
            return;
        }
        let dir = scratch();
        let copy = dir.join("newer.db");
        drop(guidepost_store::connect(&db.url).await.unwrap());
        let backed_up = guidepost(&db.url, &["backup", "--to", text(&copy)]).await;
        assert!(backed_up.ok, "{}", backed_up.stderr);
        let copy_url = format!("sqlite:{}", text(&copy));
        let mut connection = sqlx::SqliteConnection::connect(&copy_url).await.unwrap();
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
                     VALUES (9999, 'from a newer Guidepost', TRUE, x'00', 0)")
            .execute(&mut connection).await.unwrap();
        connection.close().await.unwrap();

        let target = dir.join("target.db");
        let refused = guidepost(&format!("sqlite:{}", text(&target)), &["restore", "--from", text(&copy)]).await;
        assert!(!refused.ok, "{}", refused.stdout);
        let checked = guidepost(&db.url, &["backup", "--check"]).await;
        let binary = binary_version(&checked);
        assert!(refused.stderr.contains("9999") && refused.stderr.contains(&format!("({binary})")), "{}", refused.stderr);
        assert!(refused.stderr.contains("newer"), "{}", refused.stderr);
        assert!(!target.exists(), "nothing was put in place");
        let checked_copy = guidepost(&copy_url, &["backup", "--check"]).await;
        assert!(!checked_copy.ok && checked_copy.stderr.contains("9999"), "{}", checked_copy.stderr);

        // A file that is not a database is refused too.
        let garbage = dir.join("garbage.db");
        std::fs::write(&garbage, b"not a database at all, just some bytes").unwrap();
        let refused = guidepost(&format!("sqlite:{}", text(&target)), &["restore", "--from", text(&garbage)]).await;
        assert!(!refused.ok, "{}", refused.stdout);
        assert!(!target.exists());

        // A copy without its recorded calls' file is refused, naming the missing file.
        let lonely = dir.join("lonely.db");
        let backed_up = guidepost(&db.url, &["backup", "--to", text(&lonely)]).await;
        assert!(backed_up.ok, "{}", backed_up.stderr);
        std::fs::remove_file(dir.join("lonely.db-analytics")).unwrap();
        let refused = guidepost(&format!("sqlite:{}", text(&target)), &["restore", "--from", text(&lonely)]).await;
        assert!(!refused.ok && refused.stderr.contains("lonely.db-analytics is missing"), "{}", refused.stderr);
        assert!(!target.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
