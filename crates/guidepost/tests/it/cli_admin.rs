//! The administrative CLI against a real database: `migrate`, `server create|list|update`,
//! `api-key create|revoke` (whose keys a running node then honours or refuses) and
//! `webhook list|test` (whose ping a running node sends).

use std::time::Duration;

use guidepost_core::secrets::MasterKey;
use guidepost_testkit::{TestBackend, TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{spawn_app, spawn_app_with};

/// What one run of the binary printed: its JSON result (`--json`), or its error text.
struct Run {
    ok: bool,
    json: Value,
    stderr: String,
}

async fn cli(db: &TestDatabase, args: &[&str]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
        .args(["--json", "--database-url", &db.url])
        .args(args)
        .output()
        .await
        .expect("the binary runs");
    Run {
        ok: output.status.success(),
        json: serde_json::from_slice(&output.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn ok(db: &TestDatabase, args: &[&str]) -> Value {
    let run = cli(db, args).await;
    assert!(run.ok, "{args:?}: {}", run.stderr);
    run.json
}

/// Brings `db` to the schema one migration short of this binary's, as the Guidepost
/// before it left it; returns that version and this binary's latest. (A backend's
/// versions need not be consecutive: PostgreSQL has no 0030.)
async fn migrate_to_the_one_before_last(db: &TestDatabase) -> (i64, i64) {
    let backend = match db.backend {
        TestBackend::Sqlite => "sqlite",
        TestBackend::Postgres => "postgres",
    };
    let directory = format!(
        "{}/../store/migrations/{backend}",
        env!("CARGO_MANIFEST_DIR")
    );
    let migrator = sqlx::migrate::Migrator::new(std::path::Path::new(&directory))
        .await
        .expect("the migrations");
    let mut versions: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    versions.sort_unstable();
    let [.., before, latest] = versions[..] else {
        panic!("at least two migrations");
    };
    match db.backend {
        TestBackend::Sqlite => {
            let options = db
                .url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap();
            use sqlx::Connection as _;
            // As the store opens it: with the recorded calls' file attached (0030 moved
            // them there).
            let analytics = guidepost_store::analytics_file::beside(options.get_filename());
            let mut connection =
                sqlx::SqliteConnection::connect_with(&options.create_if_missing(true))
                    .await
                    .unwrap();
            guidepost_store::analytics_file::attach(&mut connection, &analytics.to_string_lossy())
                .await
                .unwrap();
            migrator.run_to(before, &mut connection).await.unwrap();
            connection.close().await.unwrap();
        }
        TestBackend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            migrator.run_to(before, &pool).await.unwrap();
            pool.close().await;
        }
    }
    (before, latest)
}

async fn new_org(db: &TestDatabase) -> String {
    let created = ok(db, &["org", "create", "--name", "Acme"]).await;
    created["organization"]["id"].as_str().unwrap().to_owned()
}

backend_tests! {
    async fn migrate_prepares_an_empty_database_and_is_safe_to_repeat(db: &TestDatabase) {
        let created = cli(db, &["migrate"]).await;
        assert!(created.ok, "{}", created.stderr);
        assert_eq!(created.json, json!({"migrated": true}));
        assert!(!created.stderr.contains("migrating"), "a new database is created quietly: {}", created.stderr);
        assert_eq!(ok(db, &["migrate"]).await, json!({"migrated": true}), "a second run changes nothing");
        let org = new_org(db).await;
        assert!(org.starts_with("org_"), "the schema is there: {org}");
        let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"))
            .args(["migrate", "--database-url", "mysql://nowhere/db"])
            .output().await.unwrap();
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("use sqlite:PATH or postgres://"));
    }

    /// A migration may move many rows (0030 moves every recorded call on SQLite): a start
    /// on a database the Guidepost before left says what it is doing and how long it took,
    /// and sqlx does not write the migration's SQL as a slow statement.
    async fn migrate_announces_the_versions_of_a_database_it_brings_up_to_date(db: &TestDatabase) {
        let (before, latest) = migrate_to_the_one_before_last(db).await;
        let run = cli(db, &["migrate"]).await;
        assert!(run.ok, "{}", run.stderr);
        let announced = format!("migrating the database's schema (a large database takes a while) from={before} to={latest}");
        assert!(run.stderr.contains(&announced), "{}", run.stderr);
        assert!(run.stderr.contains(&format!("migrated the database's schema from={before} to={latest} seconds=")), "{}", run.stderr);
        let again = cli(db, &["migrate"]).await;
        assert!(again.ok && !again.stderr.contains("migrating"), "nothing left to migrate: {}", again.stderr);
        assert!(new_org(db).await.starts_with("org_"), "the schema is whole");
    }

    async fn an_organization_created_with_an_owner_email_has_that_owner(db: &TestDatabase) {
        let created = ok(db, &["org", "create", "--name", "Acme", "--owner-email", "Ada@Acme.example"]).await;
        let url = created["dashboard_sign_in_url"].as_str().unwrap();
        assert!(url.ends_with("/app/sign-in?email=ada%40acme.example"), "{url}");
        let store = guidepost_store::connect(&db.url).await.unwrap();
        let email = guidepost_domain::Email::parse("ada@acme.example").unwrap();
        let memberships = store.memberships_of_email(&email).await.unwrap();
        assert_eq!(memberships.len(), 1);
        assert_eq!(memberships[0].member.role, guidepost_domain::Role::Owner);
        assert_eq!(memberships[0].member.org_id.as_str(), created["organization"]["id"]);
        let refused = cli(db, &["org", "create", "--name", "Beta", "--owner-email", "not an email"]).await;
        assert!(!refused.ok);
        assert!(refused.stderr.contains("email"), "{}", refused.stderr);
    }

    async fn servers_are_created_listed_and_updated(db: &TestDatabase) {
        let org = new_org(db).await;
        let docs = ok(db, &["server", "create", "--org", &org, "--name", "Docs", "--slug", "docs"]).await;
        ok(db, &["server", "create", "--org", &org, "--name", "Api", "--slug", "api",
            "--instructions", "Be brief."]).await;
        let listed = ok(db, &["server", "list", "--org", &org]).await;
        let mut slugs: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["slug"].as_str().unwrap()).collect();
        slugs.sort();
        assert_eq!(slugs, ["api", "docs"]);

        let id = docs["id"].as_str().unwrap();
        let updated = ok(db, &["server", "update", "--org", &org, id, "--name", "Docs v2", "--slug", "docs-v2",
            "--support-tool", "false", "--product-name", "Acme Docs", "--allowed-origin", "https://app.acme.example"]).await;
        assert_eq!(updated["name"], "Docs v2");
        assert_eq!(updated["slug"], "docs-v2");
        assert_eq!(updated["support_tool_enabled"], false);
        assert_eq!(updated["walkthrough_tools_enabled"], true, "left alone");
        assert_eq!(updated["product_name"], "Acme Docs");
        assert_eq!(updated["allowed_origins"], json!(["https://app.acme.example"]));
        assert!(updated["mcp_url"].as_str().unwrap().contains("docs-v2"), "{updated}");
        let cleared = ok(db, &["server", "update", "--org", &org, id, "--product-name", "", "--clear-allowed-origins"]).await;
        assert_eq!((cleared["product_name"].clone(), cleared["allowed_origins"].clone()), (Value::Null, json!([])));
        assert_eq!(cleared["name"], "Docs v2", "left alone");

        let taken = cli(db, &["server", "update", "--org", &org, id, "--slug", "api"]).await;
        assert!(!taken.ok && taken.stderr.contains("slug"), "{}", taken.stderr);
        let invalid = cli(db, &["server", "update", "--org", &org, id, "--slug", "Not A Slug"]).await;
        assert!(!invalid.ok && invalid.stderr.contains("slug"), "{}", invalid.stderr);
        let other = new_org(db).await;
        let elsewhere = cli(db, &["server", "update", "--org", &other, id, "--name", "Mine"]).await;
        assert!(!elsewhere.ok && elsewhere.stderr.contains("no server"), "{}", elsewhere.stderr);
    }

    async fn an_api_key_made_by_the_cli_works_until_the_cli_revokes_it(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let org = new_org(db).await;
        let created = ok(db, &["api-key", "create", "--org", &org, "--name", "ci"]).await;
        let key = created["api_key"].as_str().unwrap().to_owned();
        assert_eq!(created["name"], "ci");
        assert_eq!(created["scopes"], json!(["read", "write"]), "the default: {created}");
        assert!(key.starts_with("gp_"), "{created}");
        let (status, _) = app.get("/servers", &key).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = app.get("/api-keys", &key).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no admin scope");

        let gateway = ok(db, &["api-key", "create", "--org", &org, "--scopes", "gateway"]).await;
        assert_eq!(gateway["scopes"], json!(["read", "gateway"]), "{gateway}");
        let gateway_key = gateway["api_key"].as_str().unwrap();
        let (status, _) = app.api(Method::POST, "/servers", gateway_key, Some(json!({"name": "Docs", "slug": "gw-docs"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no write scope");
        let unknown_scope = cli(db, &["api-key", "create", "--org", &org, "--scopes", "read,owner"]).await;
        assert!(!unknown_scope.ok && unknown_scope.stderr.contains("\"owner\" is no scope"), "{}", unknown_scope.stderr);

        let id = created["id"].as_str().unwrap().to_owned();
        ok(db, &["api-key", "revoke", "--org", &org, "--id", &id]).await;
        let (status, _) = app.get("/servers", &key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let unknown = cli(db, &["api-key", "revoke", "--org", &org, "--id", "key_00000000000000000000"]).await;
        assert!(!unknown.ok && unknown.stderr.contains("no such organization or key"), "{}", unknown.stderr);
    }

    async fn the_cli_lists_webhooks_and_a_running_node_sends_its_ping(db: &TestDatabase) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let receiver = axum::Router::new().route("/hook", axum::routing::post(|| async { "thanks" }));
        tokio::spawn(async move { axum::serve(listener, receiver).await });
        let app = spawn_app_with(db, |settings| {
            settings.platform.master_key = Some(MasterKey::from_bytes([3; 32]));
            settings.webhooks.allow_private = true;
            settings.webhooks.poll = Duration::from_millis(50);
        }).await;
        let acme = app.create_tenant("Acme").await;
        let body = json!({"url": url, "events": ["support_request.created"]});
        let (_, hook) = app.api(Method::POST, "/webhooks", &acme.key, Some(body)).await;
        let hook = hook["id"].as_str().unwrap();

        let listed = ok(db, &["webhook", "list", "--org", acme.org_id()]).await;
        assert_eq!(listed[0]["webhook"]["url"], url.as_str());
        assert_eq!(listed[0]["latest_delivery"], Value::Null);
        let tried = ok(db, &["webhook", "test", "--org", acme.org_id(), hook, "--wait", "30"]).await;
        assert_eq!((tried["event"].as_str(), tried["status"].as_str()), (Some("ping"), Some("delivered")), "{tried}");
        assert_eq!(tried["last_status_code"], 200);
        let listed = ok(db, &["webhook", "list", "--org", acme.org_id()]).await;
        assert_eq!(listed[0]["latest_delivery"]["status"], "delivered");

        let missing = cli(db, &["webhook", "test", "--org", acme.org_id(), "wh_00000000000000000000"]).await;
        assert!(!missing.ok && missing.stderr.contains("no webhook"), "{}", missing.stderr);
    }
}
