//! A custom domain serves only after a DNS TXT challenge proves it, checked
//! against the tests' own DNS server (`--dns-resolver`).

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{RawMcp, STATELESS_ERA, TestApp, spawn_app};

const DOMAIN: &str = "mcp.acme-corp.example";

/// `tools/list` at `{app}/mcp` with the Host header of `host`.
async fn status_at(app: &TestApp, host: &str) -> StatusCode {
    let mcp = RawMcp::new(format!("{}/mcp", app.url), STATELESS_ERA).with_host(host);
    mcp.call(1, "tools/list", json!({})).await.status
}

backend_tests! {
    async fn a_custom_domain_serves_only_once_its_txt_record_is_found(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let server = app.create_server(&acme, "acme", json!({"custom_domain": DOMAIN})).await;
        assert_eq!(server["custom_domain"], json!(null), "not served yet");
        let challenge = &server["custom_domain_pending"];
        assert_eq!(challenge["domain"], DOMAIN);
        assert_eq!(challenge["record_type"], "TXT");
        assert_eq!(challenge["record_name"], format!("_guidepost-challenge.{DOMAIN}"));
        let token = challenge["record_value"].as_str().unwrap();
        assert!(token.len() >= 32, "a random challenge: {token}");
        assert_eq!(status_at(&app, DOMAIN).await, StatusCode::NOT_FOUND, "pending domains do not serve");

        // Nothing published, then the wrong value: refused with what to publish.
        let (status, problem) = app.verify_domain(&acme, &server).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains(token), "says what to publish: {problem}");
        app.dns.publish(&format!("_guidepost-challenge.{DOMAIN}"), "someone-else");
        let (status, _) = app.verify_domain(&acme, &server).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status_at(&app, DOMAIN).await, StatusCode::NOT_FOUND);

        let (status, verified) = app.publish_and_verify(&acme, &server).await;
        assert_eq!(status, StatusCode::OK, "{verified}");
        assert_eq!(verified["custom_domain"], DOMAIN);
        assert_eq!(verified["custom_domain_pending"], json!(null));
        assert_eq!(status_at(&app, DOMAIN).await, StatusCode::OK, "served once verified");
        let (status, _) = app.verify_domain(&acme, &server).await;
        assert_eq!(status, StatusCode::CONFLICT, "nothing left to verify");

        // Another domain replaces it: the old one stops serving at once.
        let path = format!("/servers/{}", server["id"].as_str().unwrap());
        let (status, moved) = app
            .api(reqwest::Method::PATCH, &path, &acme.key, Some(json!({"custom_domain": "mcp.acme.example"})))
            .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!((&moved["custom_domain"], &moved["custom_domain_pending"]["domain"]), (&json!(null), &json!("mcp.acme.example")));
        assert_eq!(status_at(&app, DOMAIN).await, StatusCode::NOT_FOUND);
    }

    async fn a_domain_goes_to_whoever_proves_it_and_no_one_takes_it_after(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let intruder = app.create_tenant("Intruder").await;
        // The intruder asks first: that alone gets nothing.
        let claim = app.create_server(&intruder, "grab", json!({"custom_domain": DOMAIN})).await;
        let owner = app.create_server(&acme, "acme", json!({"custom_domain": DOMAIN})).await;
        assert_eq!(status_at(&app, DOMAIN).await, StatusCode::NOT_FOUND);
        // The domain's owner publishes Acme's challenge only.
        let (status, verified) = app.publish_and_verify(&acme, &owner).await;
        assert_eq!(status, StatusCode::OK, "{verified}");
        let (status, _) = app.verify_domain(&intruder, &claim).await;
        assert_ne!(status, StatusCode::OK, "the intruder's challenge is not published");
        // Even with its own record published (say, a dangling DNS entry), it cannot take a
        // verified domain: asking for it is a conflict, and so is verifying it.
        let (status, _) = app.publish_and_verify(&intruder, &claim).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let path = format!("/servers/{}", claim["id"].as_str().unwrap());
        let key = &intruder.key;
        let (status, _) = app.api(reqwest::Method::PATCH, &path, key, Some(json!({"custom_domain": null}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, problem) = app
            .api(reqwest::Method::PATCH, &path, &intruder.key, Some(json!({"custom_domain": DOMAIN})))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        let body = json!({"name": "Grab", "slug": "grab-two", "custom_domain": DOMAIN});
        let (status, problem) = app.api(reqwest::Method::POST, "/servers", &intruder.key, Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
        assert_eq!(status_at(&app, DOMAIN).await, StatusCode::OK, "still Acme's");
    }
}

/// The CLI asks for a domain, prints the record to publish, and verifies it.
#[tokio::test]
async fn the_cli_verifies_a_custom_domain() {
    let db = guidepost_testkit::TestDatabase::create(guidepost_testkit::TestBackend::Sqlite).await;
    let dns = crate::dns_server::TestDns::start().await;
    let resolver = dns.addr.to_string();
    let cli = |args: Vec<&str>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_guidepost"));
        command
            .args(["--json", "--database-url", &db.url])
            .args(args);
        command.output()
    };
    let run = |args: Vec<&'static str>| async { cli(args).await.unwrap() };
    let org = run(vec!["org", "create", "--name", "Acme"]).await;
    let org: serde_json::Value = serde_json::from_slice(&org.stdout).unwrap();
    let org_id = org["organization"]["id"].as_str().unwrap().to_owned();
    let create = cli(vec![
        "server",
        "create",
        "--org",
        &org_id,
        "--name",
        "Acme",
        "--slug",
        "acme",
        "--custom-domain",
        DOMAIN,
    ]);
    let created: serde_json::Value = serde_json::from_slice(&create.await.unwrap().stdout).unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let verify = || {
        cli(vec![
            "server",
            "verify-domain",
            "--org",
            &org_id,
            &id,
            "--dns-resolver",
            &resolver,
        ])
    };
    let refused = verify().await.unwrap();
    assert!(!refused.status.success());
    let record = created["custom_domain_pending"]["record_name"]
        .as_str()
        .unwrap();
    let value = created["custom_domain_pending"]["record_value"]
        .as_str()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains(value),
        "says what to publish"
    );
    dns.publish(record, value);
    let verified = verify().await.unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let server: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(server["custom_domain"], DOMAIN);
}
