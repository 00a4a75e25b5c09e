//! A server's identity provider in the dashboard, against a real OpenID
//! Connect provider (tests/e2e/oidc_provider.mjs): set by form with the same checks as the
//! API, the secret sealed and never shown, `custom_oauth` offered once it exists, removal
//! asked first and refused while the server uses it. And the organization's gateway
//! settings, an owner's form.

use guidepost_domain::{Role, ServerId};
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::json;

use super::{dashboard_app_with, member, pairs};
use crate::oauth_helpers::{OAuthApp, Pkce};
use crate::oidc_idp::{CLIENT_ID, CLIENT_SECRET, EMAIL, Idp, master_key, sign_in_at_idp};

const CUSTOM_OAUTH_OPTION: &str = r#"<option value="custom_oauth""#;

async fn an_editor_sets_the_identity_provider_by_form_and_signs_the_server_in_through_it(
    db: &TestDatabase,
) {
    let app = dashboard_app_with(db, |settings| {
        settings.platform.master_key = Some(master_key());
        settings.auth.oidc_allow_private = true;
    })
    .await;
    let key = &app.tenant.key;
    let server = app.app.create_server(&app.tenant, "acme", json!({})).await;
    let id = server["id"].as_str().unwrap().to_owned();
    let server_page = format!("/app/servers/{id}");
    let set = format!("{server_page}/identity-provider");
    let remove = format!("{set}/remove");
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;

    // Before: no provider, custom_oauth not offered, the callbacks to register shown.
    let page = editor.get(&server_page).await.ok().to_owned();
    assert!(
        page.contains("This server has no identity provider."),
        "{page}"
    );
    assert!(!page.contains(CUSTOM_OAUTH_OPTION), "{page}");
    let port = app.app.app.addr.port();
    for shown in [
        format!("<li><code>http://acme.localhost:{port}/oidc/callback</code></li>"),
        format!("<li><code>http://localhost:{port}/s/acme/oidc/callback</code></li>"),
    ] {
        assert!(page.contains(&shown), "{page}");
    }
    let callback = format!("{}/oidc/callback", app.issuer("acme"));
    let idp = Idp::start(std::slice::from_ref(&callback), &[]).await;

    // A provider that does not answer is refused beside its field, the typed values kept
    // (never the secret), and nothing is stored.
    let fields = |issuer: &str, secret: &str| {
        vec![
            ("issuer_url", issuer.to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
        ]
    };
    let posted = fields("http://127.0.0.1:9", CLIENT_SECRET);
    let refused = editor.post(&set, &pairs(&posted)).await;
    let body = refused.refused(
        StatusCode::UNPROCESSABLE_ENTITY,
        &[
            r#"id="idp-issuer-url-error""#,
            "Issuer URL: the provider cannot be used",
            r#"value="http://127.0.0.1:9""#,
        ],
    );
    assert!(!body.contains(CLIENT_SECRET), "the secret is never shown");
    let oidc = format!("/servers/{id}/oidc");
    assert_eq!(app.app.get(&oidc, key).await.0, StatusCode::NOT_FOUND);

    // Set: sealed at rest, shown as stored, and custom_oauth is offered.
    let posted = fields(&idp.issuer, CLIENT_SECRET);
    editor
        .post(&set, &pairs(&posted))
        .await
        .redirected_to(&server_page);
    let sealed = stored_secret(&app, &id).await.expect("a sealed secret");
    let (_, view) = app.app.get(&oidc, key).await;
    assert_eq!(view["issuer_url"], idp.issuer.as_str(), "{view}");
    assert_eq!(view["accept_unverified_email"], false, "{view}");
    let page = editor.get(&server_page).await.ok().to_owned();
    assert!(page.contains("stored, encrypted (never shown)"), "{page}");
    assert!(page.contains(CUSTOM_OAUTH_OPTION), "{page}");
    assert!(
        !page.contains(CLIENT_SECRET) && !page.contains(&sealed),
        "{page}"
    );

    // A viewer reads which provider it is, with no form to change it.
    let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
    let page = viewer.get(&server_page).await.ok().to_owned();
    assert!(
        page.contains(&format!("<dd><code>{}</code></dd>", idp.issuer)),
        "{page}"
    );
    assert!(!page.contains(&format!(r#"action="{set}""#)), "{page}");
    let refused = viewer.post(&set, &pairs(&fields(&idp.issuer, ""))).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

    // Saved again with the secret left blank: the stored secret stays.
    let mut posted = fields(&idp.issuer, "");
    posted.push(("accept_unverified_email", "on".to_owned()));
    editor
        .post(&set, &pairs(&posted))
        .await
        .redirected_to(&server_page);
    let (_, view) = app.app.get(&oidc, key).await;
    assert_eq!(view["accept_unverified_email"], true, "{view}");
    assert_eq!(
        stored_secret(&app, &id).await.as_deref(),
        Some(sealed.as_str())
    );
    // Not for another issuer or client: the stored secret would go to that provider's
    // token endpoint, to be read by whoever runs it.
    let elsewhere = fields("https://idp.attacker.example", "");
    let mut other_client = fields(&idp.issuer, "");
    other_client[1].1 = "another-client".to_owned();
    for posted in [&elsewhere, &other_client] {
        let refused = editor.post(&set, &pairs(posted)).await;
        refused.refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            &["type the client secret again"],
        );
    }
    let (_, view) = app.app.get(&oidc, key).await;
    assert_eq!(
        view["issuer_url"],
        idp.issuer.as_str(),
        "nothing changed: {view}"
    );
    assert_eq!(view["client_id"], CLIENT_ID, "{view}");

    // The server signs people in there now, with the kept secret at the provider's token
    // endpoint: the consent page names the provider's person.
    editor.get(&server_page).await.ok();
    let settings = [
        ("name", "Acme"),
        ("slug", "acme"),
        ("auth_mode", "custom_oauth"),
    ];
    editor
        .post(&server_page, &settings)
        .await
        .redirected_to(&server_page);
    let (_, server) = app.app.get(&format!("/servers/{id}"), key).await;
    assert_eq!(server["auth_mode"], "custom_oauth", "{server}");
    let client = app.register("acme", json!({"client_name": "Cursor"})).await;
    let url = app.authorize_url("acme", &client, &Pkce::new(), &[]);
    let consent = sign_in_at_idp(&mut app.person("unused@example.com"), &url).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains(EMAIL), "{}", consent.body);

    // Removal asks first, and is refused while the server uses the provider.
    editor.get(&server_page).await.ok();
    let asked = editor.post(&remove, &[]).await;
    assert_eq!(asked.status, StatusCode::OK);
    assert!(
        asked.body.contains("Remove the identity provider of Acme?"),
        "{}",
        asked.body
    );
    let refused = editor.post(&remove, &[("confirm", "yes")]).await;
    let marks = [r#"id="idp-remove-error""#, "change its auth_mode first"];
    refused.refused(StatusCode::CONFLICT, &marks);

    // A secret typed for a client declared public is refused, not dropped.
    let mut posted = fields(&idp.issuer, "another-secret");
    posted.push(("public_client", "on".to_owned()));
    let refused = editor.post(&set, &pairs(&posted)).await;
    let marks = [
        r#"id="idp-client-secret-error""#,
        "a public client has none",
    ];
    refused.refused(StatusCode::UNPROCESSABLE_ENTITY, &marks);
    assert_eq!(
        stored_secret(&app, &id).await.as_deref(),
        Some(sealed.as_str())
    );

    // Back to codes, declared a public client (the secret goes), then removed.
    let settings = [
        ("name", "Acme"),
        ("slug", "acme"),
        ("auth_mode", "platform_oauth"),
    ];
    editor
        .post(&server_page, &settings)
        .await
        .redirected_to(&server_page);
    editor.get(&server_page).await.ok();
    let mut posted = fields(&idp.issuer, "");
    posted.push(("public_client", "on".to_owned()));
    editor
        .post(&set, &pairs(&posted))
        .await
        .redirected_to(&server_page);
    assert_eq!(stored_secret(&app, &id).await, None, "a public client");
    let page = editor.get(&server_page).await.ok().to_owned();
    assert!(page.contains("none: a public client, PKCE only"), "{page}");
    editor
        .post(&remove, &[("confirm", "yes")])
        .await
        .redirected_to(&server_page);
    assert_eq!(app.app.get(&oidc, key).await.0, StatusCode::NOT_FOUND);
    let page = editor.get(&server_page).await.ok().to_owned();
    assert!(!page.contains(CUSTOM_OAUTH_OPTION), "{page}");
}

async fn an_owner_sets_how_upstream_tools_are_approved_and_their_results_delivered(
    db: &TestDatabase,
) {
    let app = dashboard_app_with(db, |_| {}).await;
    let key = &app.tenant.key;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let page = owner.get("/app/gateway").await.ok().to_owned();
    assert!(
        page.contains("(manual)") && page.contains("(stripped)"),
        "{page}"
    );
    let choice = [
        ("tool_approval", "trust_on_first_use"),
        ("tool_results", "raw"),
    ];
    owner
        .post("/app/gateway/settings", &choice)
        .await
        .redirected_to("/app/gateway");
    let (_, organization) = app.app.get("/organization", key).await;
    assert_eq!(
        organization["tool_approval"], "trust_on_first_use",
        "{organization}"
    );
    assert_eq!(organization["raw_tool_results"], true, "{organization}");
    let page = owner.get("/app/gateway").await.ok().to_owned();
    assert!(
        page.contains("(trust_on_first_use)") && page.contains("(raw)"),
        "{page}"
    );
    let (_, audit) = app.app.get("/audit-events", key).await;
    let actions = audit.to_string();
    assert!(actions.contains("organization.tool_approval"), "{audit}");
    assert!(actions.contains("organization.raw_tool_results"), "{audit}");

    // A made-up value is refused, nothing changed.
    let bad = [("tool_approval", "always"), ("tool_results", "raw")];
    let refused = owner.post("/app/gateway/settings", &bad).await;
    refused.refused(
        StatusCode::UNPROCESSABLE_ENTITY,
        &["choose manual or trust_on_first_use"],
    );

    // An editor sees the settings, not the form, and a post is refused.
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    let page = editor.get("/app/gateway").await.ok().to_owned();
    assert!(page.contains("Owners change these settings."), "{page}");
    let back = [("tool_approval", "manual"), ("tool_results", "stripped")];
    let refused = editor.post("/app/gateway/settings", &back).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let (_, organization) = app.app.get("/organization", key).await;
    assert_eq!(
        organization["tool_approval"], "trust_on_first_use",
        "{organization}"
    );
}

/// The server's sealed client secret as stored.
async fn stored_secret(app: &OAuthApp, id: &str) -> Option<String> {
    let org = app.tenant.org.clone();
    let server = ServerId::parse(id).unwrap();
    let stored = app
        .app
        .store
        .get_oidc_provider(&org, &server)
        .await
        .unwrap();
    stored.expect("a provider").client_secret_sealed
}

backend_tests! {
    async fn an_editor_sets_the_identity_provider_by_form(db: &TestDatabase) {
        an_editor_sets_the_identity_provider_by_form_and_signs_the_server_in_through_it(db).await;
    }

    async fn an_owner_sets_the_gateway_settings_by_form(db: &TestDatabase) {
        an_owner_sets_how_upstream_tools_are_approved_and_their_results_delivered(db).await;
    }
}
