//! Operations, on every backend: an upstream's failure is queued for webhooks
//! once per failure and its recovery once it is ready again; backups and schema checks.

mod common;

use std::collections::BTreeMap;

use guidepost_domain::*;
use guidepost_store::backup;
use guidepost_store::{NewWebhook, StoreError};
use guidepost_testkit::{TestBackend, TestDatabase, backend_tests};

use common::{all_tool_calls, at, new_org, new_server, open, tool_call};

fn upstream() -> NewUpstream {
    NewUpstream {
        name: "Flaky".into(),
        start: StartMode::OnDemand,
        replicas: 1,
        catalog_entry_id: Some("flaky".into()),
        catalog_entry_version: None,
        spec: LaunchSpec::Npm(PackageSpec {
            package: "flaky".into(),
            version: "1.0.0".into(),
            bin: None,
            args: vec![],
            env: BTreeMap::new(),
            network: Network::None,
            limits: Default::default(),
        }),
        secrets_sealed: BTreeMap::new(),
        config: BTreeMap::new(),
    }
}

async fn failures_are_announced_once_and_recoveries_once_they_run(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let up = store.create_upstream(&org, &upstream()).await.unwrap();
    let hook = NewWebhook {
        id: WebhookId::generate(),
        org_id: org.clone(),
        url: "https://hooks.example.com/x".into(),
        events: vec![
            WebhookEvent::UpstreamFailed,
            WebhookEvent::UpstreamRecovered,
        ],
        secret_sealed: "sealed".into(),
    };
    store.create_webhook(&hook, Timestamp::now()).await.unwrap();
    use UpstreamStatus::*;
    // Ready, crashes past the limit (failed, written twice), restarted on request,
    // starting, ready again; then ready again (no news), and failing once more.
    // The first recovery keeps a reason in the status (an upgrade undone says why).
    for (at, status) in [
        Starting, Ready, Degraded, Failed, Failed, Starting, Ready, Ready, Failed,
    ]
    .into_iter()
    .enumerate()
    {
        let error = match status {
            Failed => Some("exited with 1"),
            Ready if at == 6 => Some("upgrade undone: exited with 1"),
            _ => None,
        };
        // The last write (failed) keeps what Guidepost observed beside the words.
        let fault = (at == 8).then_some(UpstreamFault::HandshakeTimeout { secs: 30 });
        store
            .set_upstream_status(&org, &up.id, status, error, fault.as_ref(), 3)
            .await
            .unwrap();
        let read = store.get_upstream(&org, &up.id).await.unwrap();
        assert_eq!(read.last_fault, fault, "at {at}: written, then cleared");
    }
    let page = store
        .list_webhook_deliveries(&org, &hook.id, &PageRequest::first(50))
        .await
        .unwrap();
    let mut events: Vec<&str> = page.items.iter().map(|d| d.event.as_str()).collect();
    events.reverse();
    assert_eq!(
        events,
        ["upstream.failed", "upstream.recovered", "upstream.failed"]
    );
    // A failure quotes the upstream's last error; a recovery does not, whatever the status
    // keeps (only a failure's subscribers must be allowed to read the upstream's words).
    let now = Timestamp::now();
    let lease = Timestamp::from_micros(now.micros() + 60_000_000);
    let claimed = store
        .claim_webhook_deliveries(now, lease, 10)
        .await
        .unwrap();
    let mut quoted: Vec<(String, serde_json::Value)> = claimed
        .iter()
        .map(|d| {
            let body: serde_json::Value = serde_json::from_str(&d.payload).unwrap();
            (
                body["type"].as_str().unwrap().to_owned(),
                body["data"]["last_error"].clone(),
            )
        })
        .collect();
    quoted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(quoted.len(), 3, "{quoted:?}");
    assert!(
        quoted[..2]
            .iter()
            .all(|(kind, error)| kind == "upstream.failed" && error == "exited with 1"),
        "{quoted:?}"
    );
    assert_eq!(
        quoted[2],
        ("upstream.recovered".to_owned(), serde_json::Value::Null)
    );
    // Another organization's upstream id is not found, and nothing is queued.
    let other = new_org(&store, "Other").await;
    let refused = store
        .set_upstream_status(&other, &up.id, Failed, None, None, 0)
        .await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
}

async fn backups_copy_sqlite_and_point_postgres_at_pg_dump(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let server = new_server(&store, &org, "acme").await.id;
    let call = tool_call(&org, &server, "next_step", at(0));
    store
        .insert_tool_calls(std::slice::from_ref(&call))
        .await
        .unwrap();
    let versions = backup::schema_versions(&db.url).await.unwrap();
    assert_eq!(versions.database, Some(versions.binary), "{versions:?}");
    assert!(versions.binary >= 18);
    let dir = std::env::temp_dir().join(format!("gp-backup-{}", random_token("").to_lowercase()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("copy.db");
    if db.backend == TestBackend::Postgres {
        let refused = backup::backup_sqlite(&db.url, &copy).await.unwrap_err();
        assert!(refused.to_string().contains("pg_dump"), "{refused}");
        return;
    }
    let copied = backup::backup_sqlite(&db.url, &copy).await.unwrap();
    assert_eq!(copied, versions);
    assert_eq!(backup::check_sqlite_copy(&copy).await.unwrap(), versions);
    let again = backup::backup_sqlite(&db.url, &copy).await.unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
    let restored = guidepost_store::connect(&format!("sqlite:{}", copy.display()))
        .await
        .unwrap();
    assert_eq!(restored.get_organization(&org).await.unwrap().name, "Acme");
    // The recorded calls are copied with it, in their own file.
    assert!(guidepost_store::analytics_file::beside(&copy).is_file());
    let calls = all_tool_calls(&restored, &org, &Default::default()).await;
    assert_eq!(calls.iter().map(|c| &c.id).collect::<Vec<_>>(), [&call.id]);
    let _ = std::fs::remove_dir_all(&dir);
}

backend_tests!(
    failures_are_announced_once_and_recoveries_once_they_run,
    backups_copy_sqlite_and_point_postgres_at_pg_dump,
);
