//! Who may reach what: the platform host only, a strict CSP, no cross-site or tokenless
//! posts, viewers read only, and another organization's objects are not found.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;

use super::{dashboard_app, member};

async fn posts_from_other_sites_or_without_the_form_token_are_refused(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let page = owner.get("/app/servers/new").await;
    let csp = "default-src 'none'; script-src 'self'; style-src 'self'";
    assert!(page.ok().contains("Create server"));
    let token = owner.csrf_token();
    let fields = [("name", "X"), ("slug", "x-one"), ("auth_mode", "none")];
    // A tenant's host is the same site but another origin: refused.
    let cross = owner
        .post_raw("/app/servers", &fields, Some(&token), Some("same-site"))
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "{}", cross.body);
    let cross = owner
        .post_raw("/app/servers", &fields, Some(&token), Some("cross-site"))
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let tokenless = owner
        .post_raw("/app/servers", &fields, None, Some("same-origin"))
        .await;
    assert_eq!(tokenless.status, StatusCode::FORBIDDEN);
    let forged = owner
        .post_raw(
            "/app/servers",
            &fields,
            Some("0".repeat(64).as_str()),
            Some("same-origin"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!owner.get("/app/servers").await.body.contains("x-one"));
    // The same form with the token from our own page goes through.
    owner.get("/app/servers/new").await;
    owner
        .post("/app/servers", &fields)
        .await
        .redirected_path("/app/servers/ms_");

    // Every answer carries the policy, pages are not cached.
    let response = reqwest::get(format!("{}/app/sign-in", app.app.url))
        .await
        .unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.starts_with(csp), "{policy}");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert_eq!(response.headers()["cache-control"], "no-store");
}

async fn tenants_hosts_do_not_serve_the_dashboard(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    owner.get("/app/servers/new").await;
    owner
        .post(
            "/app/servers",
            &[("name", "Docs"), ("slug", "docs"), ("auth_mode", "none")],
        )
        .await;
    let response = reqwest::Client::new()
        .get(format!("{}/app/sign-in", app.app.url))
        .header("host", "docs.localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

async fn a_viewer_reads_but_changes_nothing(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    owner.get("/app/servers/new").await;
    let server = owner
        .post(
            "/app/servers",
            &[("name", "Docs"), ("slug", "docs"), ("auth_mode", "none")],
        )
        .await
        .redirected_path("/app/servers/ms_");
    let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;
    let page = viewer.get(&server).await;
    assert!(page.ok().contains("changing them takes the editor role"));
    let fields = [("name", "Hacked"), ("slug", "docs"), ("auth_mode", "none")];
    assert_eq!(
        viewer.post(&server, &fields).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer
            .post(
                "/app/servers",
                &[("name", "V"), ("slug", "v"), ("auth_mode", "none")]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer.post(&format!("{server}/delete"), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer
            .post(
                "/app/members",
                &[("email", "x@acme.example"), ("role", "owner")]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer.get("/app/api-keys").await.status,
        StatusCode::FORBIDDEN
    );
    assert!(owner.get(&server).await.ok().contains("Docs"));
    assert!(!owner.get(&server).await.body.contains("Hacked"));
    // An editor may not manage members either.
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    editor.get("/app/members").await.ok();
    assert_eq!(
        editor
            .post(
                "/app/members",
                &[("email", "y@acme.example"), ("role", "owner")]
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

async fn another_organizations_servers_and_members_are_not_found(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let other = app.app.create_tenant("Globex").await;
    let mut theirs = member(&app, &other, "boss@globex.example", Role::Owner).await;
    theirs.get("/app/servers/new").await;
    let server = theirs
        .post(
            "/app/servers",
            &[
                ("name", "Globex"),
                ("slug", "globex"),
                ("auth_mode", "none"),
            ],
        )
        .await
        .redirected_path("/app/servers/ms_");
    theirs.get("/app/members").await;
    let mut ours = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let their_member = theirs.get("/app/members").await.body;
    let member_id = their_member
        .split("/app/members/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a member id on the page")
        .to_owned();

    assert_eq!(ours.get(&server).await.status, StatusCode::NOT_FOUND);
    ours.get("/app/servers").await;
    let fields = [
        ("name", "Mine now"),
        ("slug", "globex"),
        ("auth_mode", "none"),
    ];
    assert_eq!(
        ours.post(&server, &fields).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ours.post(&format!("{server}/delete"), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ours.post(&format!("{server}/verify-domain"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let role = ours
        .post(
            &format!("/app/members/{member_id}/role"),
            &[("role", "viewer")],
        )
        .await;
    assert_eq!(role.status, StatusCode::NOT_FOUND, "{}", role.body);
    let removed = ours
        .post(&format!("/app/members/{member_id}/remove"), &[])
        .await;
    assert_eq!(removed.status, StatusCode::NOT_FOUND);
    // Their API key cannot be revoked from here.
    let (_, keys) = app.app.get("/api-keys", &other.key).await;
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    ours.get("/app/api-keys").await.ok();
    let revoked = ours
        .post(&format!("/app/api-keys/{key_id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status, StatusCode::NOT_FOUND);
    let (status, _) = app.app.get("/servers", &other.key).await;
    assert_eq!(status, StatusCode::OK, "their key still works");
    // Switching into an organization one is no member of is not possible either.
    let switched = ours
        .post("/app/switch", &[("org_id", other.org_id())])
        .await;
    assert_eq!(switched.status, StatusCode::NOT_FOUND);
    // Theirs is untouched.
    let page = theirs.get(&server).await;
    assert!(page.ok().contains("Globex"));
    assert!(
        theirs
            .get("/app/members")
            .await
            .body
            .contains("boss@globex.example (you)")
    );
    let members = theirs.get("/app/members").await.text();
    assert!(
        members.contains("boss@globex.example (you)</td><td>owner</td>"),
        "still an owner: {members}"
    );
}

backend_tests!(
    posts_from_other_sites_or_without_the_form_token_are_refused,
    tenants_hosts_do_not_serve_the_dashboard,
    a_viewer_reads_but_changes_nothing,
    another_organizations_servers_and_members_are_not_found,
);

async fn the_dashboard_answers_at_app_with_and_without_the_slash(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    assert!(owner.get("/app/").await.ok().contains("<h1>Overview</h1>"));
    assert!(owner.get("/app").await.ok().contains("<h1>Overview</h1>"));
    assert_eq!(
        owner.get("/app/no-such-page").await.status,
        StatusCode::NOT_FOUND
    );
}

backend_tests!(the_dashboard_answers_at_app_with_and_without_the_slash);

async fn without_sec_fetch_site_the_origin_header_decides(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    owner.get("/app/servers/new").await;
    let token = owner.csrf_token();
    let cookie = format!(
        "__Host-gp_dashboard={}",
        owner.cookie("__Host-gp_dashboard").unwrap()
    );
    let host = app.app.url.trim_start_matches("http://").to_owned();
    let post = |origin: String, slug: &'static str| {
        let request = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/app/servers", app.app.url))
            .header("cookie", cookie.clone())
            .header("origin", origin)
            .form(&[
                ("name", slug),
                ("slug", slug),
                ("auth_mode", "none"),
                ("csrf_token", &token),
            ]);
        async move { request.send().await.unwrap().status() }
    };
    let port = host.rsplit(':').next().unwrap().to_owned();
    assert_eq!(
        post(format!("http://docs.localhost:{port}"), "from-a-tenant").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post("https://evil.example".into(), "from-elsewhere").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(format!("http://{host}"), "from-here").await,
        StatusCode::SEE_OTHER
    );
}

backend_tests!(without_sec_fetch_site_the_origin_header_decides);
