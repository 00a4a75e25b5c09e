//! Who may use the gateway's pages, without JavaScript: viewers read them
//! but every form is refused (and the logs, which can quote secrets, are for editors), and
//! another organization's upstreams, tools, servers and catalog entries are not found.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::gateway::{gateway_app, installed_by_api, listed, logs_containing, tool_in_state};
use super::{Browser, member};
use crate::gateway_fixture::text_of;
use crate::helpers::{RawMcp, STATELESS_ERA};

async fn a_viewer_reads_the_gateway_but_every_form_is_refused(db: &TestDatabase) {
    let (app, dir) = gateway_app(db).await;
    let (upstream, server) = installed_by_api(&app.app, &app.tenant, "acme").await;
    let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;
    let base = format!("/app/gateway/upstreams/{upstream}");
    let page = viewer.get(&base).await;
    assert!(page.ok().contains("Server acme"));
    assert!(
        !page.body.contains("/attach\"") && !page.body.contains("/uninstall\""),
        "no forms to use"
    );
    let review = viewer.get(&format!("{base}/tools/echo")).await;
    assert!(review.ok().contains("Review echo") && !review.body.contains("/approve\""));

    // Logs can quote secrets: an editor reads them, a viewer is told who may.
    tool_in_state(&app.app, &app.tenant, &upstream, "noisy", "approved").await;
    let mcp = RawMcp::new(app.app.mcp_path_url("acme"), STATELESS_ERA);
    let noisy = mcp.call_tool(1, "fx__noisy", json!({"lines": 1})).await;
    assert_eq!(text_of(&noisy.body), "wrote 1 lines", "{}", noisy.body);
    let logged = "noise line 000000";
    logs_containing(&app.app, &app.tenant, &upstream, logged).await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let page = editor.get(&base).await;
    assert!(
        page.ok().contains("<pre id=\"upstream-logs\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains(logged), "{}", page.body);
    let page = viewer.get(&base).await;
    assert!(!page.ok().contains(logged), "{}", page.body);
    assert!(!page.body.contains("upstream-logs"));
    assert!(
        page.body.contains("Logs need the editor role"),
        "{}",
        page.body
    );
    viewer.get("/app/gateway/catalog").await.ok();

    let install = [
        ("name", "Mine"),
        ("config.greeting", "x"),
        ("secret.FIXTURE_SECRET", "y"),
    ];
    let posts: [(String, &[(&str, &str)]); 7] = [
        ("/app/gateway/catalog/fixture/install".into(), &install),
        (format!("{base}/restart"), &[]),
        (
            format!("{base}/attach"),
            &[("server_id", &server), ("prefix", "fy")],
        ),
        (format!("{base}/detach/{server}"), &[]),
        (format!("{base}/tools/echo/approve"), &[]),
        (format!("{base}/tools/echo/reject"), &[]),
        (format!("{base}/uninstall"), &[]),
    ];
    for (path, fields) in &posts {
        let refused = viewer.post(path, fields).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{path}: {}",
            refused.body
        );
    }
    let (_, all) = app.app.get("/upstreams", &app.tenant.key).await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "nothing installed: {all}"
    );
    assert_eq!(all["items"][0]["restarts"], 0);
    tool_in_state(&app.app, &app.tenant, &upstream, "echo", "approved").await;
    let mcp = RawMcp::new(app.app.mcp_path_url("acme"), STATELESS_ERA);
    let names = listed(&mcp, 1).await;
    assert!(
        names.contains(&"fx__echo".to_owned()) && !names.iter().any(|n| n.starts_with("fy__")),
        "{names:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

async fn another_organizations_upstreams_tools_and_entries_are_not_found(db: &TestDatabase) {
    let (app, dir) = gateway_app(db).await;
    let globex = app.app.create_tenant("Globex").await;
    app.app.trust_new_tools(&globex).await;
    let (theirs, their_server) = installed_by_api(&app.app, &globex, "globex").await;
    let entry = json!({"id": "globex-remote", "name": "Globex remote", "description": "Theirs only.",
        "spec": {"runtime": "http", "url": "https://mcp.globex.example/mcp"}});
    let (status, body) = app
        .app
        .api(Method::POST, "/catalog", &globex.key, Some(entry))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (ours, our_server) = installed_by_api(&app.app, &app.tenant, "acme").await;

    let mut owner: Browser = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    assert!(!owner.get("/app/gateway").await.ok().contains(&theirs));
    assert!(
        !owner
            .get("/app/gateway/catalog")
            .await
            .ok()
            .contains("globex-remote")
    );
    let base = format!("/app/gateway/upstreams/{theirs}");
    for path in [
        base.clone(),
        format!("{base}/tools/echo"),
        "/app/gateway/catalog/globex-remote/install".into(),
    ] {
        assert_eq!(
            owner.get(&path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    owner.get("/app/gateway").await.ok();
    let install = [
        ("name", "Mine"),
        ("config.greeting", "x"),
        ("secret.FIXTURE_SECRET", "y"),
    ];
    let posts: [(String, &[(&str, &str)]); 9] = [
        (
            "/app/gateway/catalog/globex-remote/install".into(),
            &install,
        ),
        (format!("{base}/restart"), &[]),
        (
            format!("{base}/attach"),
            &[("server_id", &our_server), ("prefix", "gx")],
        ),
        (format!("{base}/detach/{their_server}"), &[]),
        (format!("{base}/tools/echo/approve"), &[]),
        (format!("{base}/tools/echo/reject"), &[]),
        (format!("{base}/uninstall"), &[]),
        // Our upstream, their server.
        (
            format!("/app/gateway/upstreams/{ours}/attach"),
            &[("server_id", &their_server), ("prefix", "gx")],
        ),
        (
            format!("/app/gateway/upstreams/{ours}/detach/{their_server}"),
            &[],
        ),
    ];
    for (path, fields) in &posts {
        let refused = owner.post(path, fields).await;
        assert_eq!(
            refused.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            refused.body
        );
    }
    // Theirs is untouched.
    let (status, upstream) = app
        .app
        .get(&format!("/upstreams/{theirs}"), &globex.key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(upstream["restarts"], 0, "{upstream}");
    tool_in_state(&app.app, &globex, &theirs, "echo", "approved").await;
    let mcp = RawMcp::new(app.app.mcp_path_url("globex"), STATELESS_ERA);
    let names = listed(&mcp, 1).await;
    assert!(
        names.contains(&"fx__echo".to_owned()) && !names.iter().any(|n| n.starts_with("gx__")),
        "{names:?}"
    );
    let ours_on_acme = listed(&RawMcp::new(app.app.mcp_path_url("acme"), STATELESS_ERA), 2).await;
    assert!(
        !ours_on_acme.iter().any(|n| n.starts_with("gx__")),
        "{ours_on_acme:?}"
    );
    let (_, all) = app.app.get("/upstreams", &app.tenant.key).await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "nothing installed from their entry: {all}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

backend_tests!(
    a_viewer_reads_the_gateway_but_every_form_is_refused,
    another_organizations_upstreams_tools_and_entries_are_not_found,
);
