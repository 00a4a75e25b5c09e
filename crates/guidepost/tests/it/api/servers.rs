use axum::http::{StatusCode, header};
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use crate::api::helpers::spawn_app;

async fn a_server_is_created_read_listed_updated_and_deleted(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;

    let created = app
        .post(
            &acme,
            "/api/v1/servers",
            json!({"name": "Acme docs", "slug": "acme", "product_name": "Acme"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ms_"), "{id}");
    assert_eq!(created.body["org_id"], acme.org.as_str());
    assert_eq!(created.body["mcp_url"], "http://acme.localhost:8080/mcp");
    assert_eq!(
        created.body["path_mcp_url"],
        "http://localhost:8080/s/acme/mcp"
    );
    assert_eq!(created.body["auth_mode"], "none");
    assert_eq!(created.body["walkthrough_tools_enabled"], true);
    assert_eq!(
        created.headers[header::LOCATION],
        format!("/api/v1/servers/{id}").as_str()
    );

    let read = app.get(&acme, &format!("/api/v1/servers/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["slug"], "acme");
    assert_eq!(read.body["mcp_url"], "http://acme.localhost:8080/mcp");

    let listed = app.get(&acme, "/api/v1/servers").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["id"], id.as_str());
    assert_eq!(
        listed.body["items"][0]["mcp_url"],
        "http://acme.localhost:8080/mcp"
    );
    assert!(listed.body["next_cursor"].is_null());

    let patched = app
        .patch(
            &acme,
            &format!("/api/v1/servers/{id}"),
            json!({"name": "Renamed", "product_name": null, "auth_mode": "collect_email"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["name"], "Renamed");
    assert!(patched.body["product_name"].is_null());
    assert_eq!(patched.body["auth_mode"], "collect_email");
    assert_eq!(
        patched.body["slug"], "acme",
        "fields left out stay as they were"
    );
    assert_eq!(
        app.get(&acme, &format!("/api/v1/servers/{id}")).await.body["name"],
        "Renamed"
    );

    let deleted = app.delete(&acme, &format!("/api/v1/servers/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&acme, &format!("/api/v1/servers/{id}"))
        .await
        .problem(404);
    app.delete(&acme, &format!("/api/v1/servers/{id}"))
        .await
        .problem(404);
}

async fn a_changed_slug_changes_the_urls(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let patched = app
        .patch(
            &acme,
            &format!("/api/v1/servers/{}", server["id"].as_str().unwrap()),
            json!({"slug": "acme-2"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["mcp_url"], "http://acme-2.localhost:8080/mcp");
}

async fn slugs_are_unique_across_organizations(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    app.create_server(&acme, "shared").await;

    let same_org = app
        .post(
            &acme,
            "/api/v1/servers",
            json!({"name": "Again", "slug": "shared"}),
        )
        .await;
    assert!(
        same_org.problem(409)["detail"]
            .as_str()
            .unwrap()
            .contains("slug"),
        "{}",
        same_org.body
    );
    app.post(
        &globex,
        "/api/v1/servers",
        json!({"name": "Theirs", "slug": "shared"}),
    )
    .await
    .problem(409);

    let other = app.create_server(&acme, "other").await;
    let renamed = app
        .patch(
            &acme,
            &format!("/api/v1/servers/{}", other["id"].as_str().unwrap()),
            json!({"slug": "shared"}),
        )
        .await;
    renamed.problem(409);
}

async fn conformance_fixtures_need_the_platform_to_allow_them(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let body = json!({"name": "Fixture", "slug": "fixture", "kind": "conformance_fixture"});
    app.post(&acme, "/api/v1/servers", body.clone())
        .await
        .problem(403);
    assert!(
        app.get(&acme, "/api/v1/servers").await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let permissive = crate::api::helpers::spawn_app_with(db, true).await;
    let acme = permissive.tenant("Acme").await;
    let created = permissive.post(&acme, "/api/v1/servers", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["kind"], "conformance_fixture");
}

async fn invalid_settings_are_named_field_by_field(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let bad_slug = app
        .post(
            &acme,
            "/api/v1/servers",
            json!({"name": "Acme", "slug": "Not A Slug"}),
        )
        .await;
    bad_slug.problem(422);
    assert_eq!(bad_slug.error_fields(), ["slug"]);

    let bad_domain = app
        .post(
            &acme,
            "/api/v1/servers",
            json!({"name": "Acme", "slug": "acme", "custom_domain": "x.localhost"}),
        )
        .await;
    bad_domain.problem(422);
    assert_eq!(bad_domain.error_fields(), ["custom_domain"]);
}

async fn install_snippets_carry_the_tracking_id(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let path = format!("/api/v1/servers/{}/install", server["id"].as_str().unwrap());

    let plain = app.get(&acme, &path).await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    assert_eq!(plain.body["url"], "http://acme.localhost:8080/mcp");
    assert_eq!(
        plain.body["cursor"]["mcpServers"]["acme"]["url"],
        "http://acme.localhost:8080/mcp"
    );

    let tracked = app.get(&acme, &format!("{path}?tracking_id=user-42")).await;
    assert_eq!(
        tracked.body["url"],
        "http://acme.localhost:8080/mcp?tracking_id=user-42"
    );
    assert!(
        tracked.body["claude_code"]
            .as_str()
            .unwrap()
            .contains("?tracking_id=user-42")
    );

    let bad = app
        .get(&acme, &format!("{path}?tracking_id=has%20space"))
        .await;
    bad.problem(422);
    assert_eq!(bad.error_fields(), ["tracking_id"]);
    assert_eq!(plain.body["tracking_id"], serde_json::Value::Null);
    assert_eq!(tracked.body["tracking_id"], "user-42");

    // A minted personal link: a fresh id of over 128 random bits each time.
    let minting = format!("{path}?mint_tracking_id=true");
    let (first, second) = (
        app.get(&acme, &minting).await,
        app.get(&acme, &minting).await,
    );
    let minted = |body: &serde_json::Value| body["tracking_id"].as_str().unwrap().to_owned();
    let (a, b) = (minted(&first.body), minted(&second.body));
    assert_ne!(a, b);
    let random = a.strip_prefix("pl-").expect("the personal link's prefix");
    assert!(
        random.len() >= 40 && random.bytes().all(|c| c.is_ascii_alphanumeric()),
        "{a}"
    );
    assert_eq!(
        first.body["url"],
        format!("http://acme.localhost:8080/mcp?tracking_id={a}")
    );
    assert!(first.body["claude_code"].as_str().unwrap().contains(&a));
    let both = app
        .get(
            &acme,
            &format!("{path}?tracking_id=user-42&mint_tracking_id=true"),
        )
        .await;
    both.problem(422);
    assert_eq!(both.error_fields(), ["mint_tracking_id"]);
}

async fn server_lists_are_paged_newest_first(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    for slug in ["first", "second", "third"] {
        app.create_server(&acme, slug).await;
        // Distinct creation times, so that the order does not fall back to the random ids.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }

    let page1 = app.get(&acme, "/api/v1/servers?limit=2").await;
    let slugs: Vec<&str> = page1.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["third", "second"]);
    let cursor = page1.body["next_cursor"]
        .as_str()
        .expect("a next page exists")
        .to_owned();

    let page2 = app
        .get(&acme, &format!("/api/v1/servers?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(page2.status, StatusCode::OK, "{}", page2.body);
    let slugs: Vec<&str> = page2.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["first"]);
    assert!(page2.body["next_cursor"].is_null());

    let bad_cursor = app.get(&acme, "/api/v1/servers?cursor=not-a-cursor").await;
    bad_cursor.problem(422);
    assert_eq!(bad_cursor.error_fields(), ["cursor"]);
    let zero = app.get(&acme, "/api/v1/servers?limit=0").await;
    zero.problem(422);
    assert_eq!(zero.error_fields(), ["limit"]);
    let huge = app.get(&acme, "/api/v1/servers?limit=100000").await;
    assert_eq!(
        huge.status,
        StatusCode::OK,
        "a limit above the maximum is lowered, not refused"
    );
    assert_eq!(huge.body["items"].as_array().unwrap().len(), 3);
}

backend_tests!(
    a_server_is_created_read_listed_updated_and_deleted,
    a_changed_slug_changes_the_urls,
    slugs_are_unique_across_organizations,
    conformance_fixtures_need_the_platform_to_allow_them,
    invalid_settings_are_named_field_by_field,
    install_snippets_carry_the_tracking_id,
    server_lists_are_paged_newest_first,
);
