//! `custom_oauth` end to end against a real OpenID Connect provider (`oidc-provider`,
//! tests/e2e/oidc_provider.mjs): the organization configures its provider through the API
//! (the secret sealed, never shown), people sign in there, the email comes from it, and
//! the client gets the platform's tokens only; the provider's tokens open nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::oauth_helpers::{Callback, Pkce, REDIRECT_URI, oauth_app};
use crate::oidc_idp::{
    CLIENT_ID, CLIENT_SECRET, EMAIL, Idp, PASSWORD, USER, custom_app, master_key, reach_idp_form,
    sign_in_at_idp, submit_idp_form,
};

backend_tests! {
    async fn custom_oauth_signs_in_at_the_organizations_provider_and_hands_out_only_platform_tokens(db: &TestDatabase) {
        let custom = custom_app(db, &[]).await;
        let oauth = &custom.oauth;
        let app = &oauth.app;
        let key = &oauth.tenant.key;

        // The configuration as the API shows it: never the secret; sealed at rest.
        let (status, view) = app.get(&format!("/servers/{}/oidc", custom.server_id), key).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(view["issuer_url"], custom.idp.issuer);
        assert_eq!(view["client_id"], CLIENT_ID);
        assert_eq!(view["client_secret_set"], true);
        assert!(!view.to_string().contains(CLIENT_SECRET), "{view}");
        // To register at the provider: by virtual host and by the path fallback.
        let callbacks = view["redirect_uris"].as_array().unwrap();
        let port = app.app.addr.port();
        assert_eq!(callbacks[0], format!("http://acme.localhost:{port}/oidc/callback"));
        assert_eq!(callbacks[1], format!("http://localhost:{port}/s/acme/oidc/callback"));
        let store = &app.store;
        let org = oauth.tenant.org.clone();
        let stored = store.get_oidc_provider(&org, &guidepost_domain::ServerId::parse(&custom.server_id).unwrap()).await.unwrap().unwrap();
        let sealed = stored.client_secret_sealed.expect("a sealed secret");
        assert!(!sealed.contains(CLIENT_SECRET));
        let context = guidepost_core::accounts::oidc::secret_context(&stored.server_id);
        assert_eq!(master_key().open(&sealed, &context).unwrap(), CLIENT_SECRET);

        // The person signs in at the provider; the platform's consent page names the
        // provider's email.
        let client = oauth.register("acme", json!({"client_name": "Cursor"})).await;
        let pkce = Pkce::new();
        let url = oauth.authorize_url("acme", &client, &pkce, &[]);
        let mut person = oauth.person("unused@example.com");
        let consent = sign_in_at_idp(&mut person, &url).await;
        assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
        assert!(consent.body.contains(EMAIL) && consent.body.contains("Cursor"), "{}", consent.body);
        let answer = person.post(&consent.action("/consent"),
            &[("csrf_token", &consent.csrf()), ("decision", "approve")]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let callback = Callback::parse(answer.location.as_deref().unwrap());
        assert!(answer.location.unwrap().starts_with(REDIRECT_URI));
        assert_eq!(callback.state.as_deref(), Some("st-123"));
        assert_eq!(callback.iss, Some(oauth.issuer("acme")));

        // The client's tokens are the platform's.
        let (status, tokens) = oauth.exchange("acme", &client, &callback.code, &pkce.verifier).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap();
        assert!(access.starts_with("gpa_"), "{tokens}");
        assert!(tokens["refresh_token"].as_str().unwrap().starts_with("gpr_"));
        assert_eq!(tokens.get("id_token"), None, "the platform issues no ID token");

        // The provider did issue tokens (to the platform), and none reached the client.
        let issued = custom.idp.issued_tokens().await;
        assert_eq!(issued.len(), 1, "one code exchange at the provider: {issued:?}");
        let upstream: Vec<String> = ["access_token", "id_token", "refresh_token"]
            .iter()
            .filter_map(|name| issued[0][name].as_str().map(str::to_owned))
            .collect();
        assert!(upstream.len() >= 2, "an access and an ID token: {issued:?}");
        // The provider kept the email out of its ID token (OpenID Connect's rule for the
        // code flow): the platform read it from userinfo.
        let id_token = issued[0]["id_token"].as_str().unwrap();
        let payload = URL_SAFE_NO_PAD.decode(id_token.split('.').nth(1).unwrap()).unwrap();
        let claims: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(claims.get("email"), None, "{claims}");
        let seen = format!("{tokens} {:?}", callback);
        for token in &upstream {
            assert!(!seen.contains(token.as_str()), "an upstream token reached the client");
        }

        // The platform's token works, as the provider's email.
        let mcp = oauth.mcp("acme", Some(access), None);
        let listed = mcp.call(1, "tools/list", json!({})).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let support = mcp.call_tool(2, "get_support", json!({
            "title": "Cannot deploy", "problem_description": "The deploy button does nothing."})).await;
        assert_eq!(support.structured()["status"], "open", "{}", support.body);
        let (_, requests) = app.get("/support-requests", key).await;
        assert_eq!(requests["items"][0]["email"], EMAIL, "{requests}");
        let (_, users) = app.get(&format!("/end-users?email={EMAIL}"), key).await;
        assert_eq!(users["items"][0]["email_verified"], true, "{users}");

        // The provider's tokens open nothing here.
        for token in &upstream {
            let refused = oauth.mcp("acme", Some(token), None).call(3, "tools/list", json!({})).await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "an upstream token was accepted");
        }

        crate::node::summary(&format!("custom-oauth-{}", db.backend), &[format!(
            "custom_oauth [{}]: signed in at oidc-provider {} as {EMAIL} (email from userinfo); \
             the client got platform tokens only; {} upstream tokens refused at /mcp",
            db.backend, custom.idp.issuer, upstream.len())]);

        // On a custom_oauth server the email and code forms do not exist.
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let mut other = oauth.person("mallory@acme.example");
        let login = other.get(&url).await.location.expect("a login page");
        let posted = other.post(&format!("{login}/email"), &[("email", "mallory@acme.example")]).await;
        assert_eq!(posted.status, StatusCode::NOT_FOUND, "{}", posted.body);
    }

    async fn custom_oauth_is_refused_until_its_provider_is_configured_and_usable(db: &TestDatabase) {
        // No master key: secrets are refused at configuration time.
        let oauth = oauth_app(db, &[], |settings| settings.auth.oidc_allow_private = true).await;
        let app = &oauth.app;
        let key = &oauth.tenant.key;
        let body = json!({"name": "Acme", "slug": "acme", "auth_mode": "custom_oauth"});
        let (status, problem) = app.api(reqwest::Method::POST, "/servers", key, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("/oidc"), "{problem}");
        let server = app.create_server(&oauth.tenant, "acme", json!({})).await;
        let id = server["id"].as_str().unwrap();
        let patch = |mode: &str| json!({"auth_mode": mode});
        let server_path = format!("/servers/{id}");
        let (status, problem) = app.api(reqwest::Method::PATCH, &server_path, key, Some(patch("custom_oauth"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("PUT /api/v1/servers/"), "{problem}");

        let callback = format!("{}/oidc/callback", oauth.issuer("acme"));
        let idp = Idp::start(&[callback], &[]).await;
        let oidc_path = format!("/servers/{id}/oidc");
        let put = |body: Value| app.api(reqwest::Method::PUT, &oidc_path, key, Some(body));
        let (status, problem) = put(json!({"issuer_url": idp.issuer, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert!(problem.to_string().contains("master key"), "{problem}");
        // A provider that does not answer, or names another issuer, is refused.
        for issuer in ["http://127.0.0.1:9", &format!("{}/other", idp.issuer)] {
            let (status, problem) = put(json!({"issuer_url": issuer, "client_id": CLIENT_ID})).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{issuer}: {problem}");
            assert!(problem.to_string().contains("issuer_url"), "{problem}");
        }
        let (status, _) = app.get(&oidc_path, key).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "nothing was stored");

        // A public client (no secret) needs no master key.
        let (status, view) = put(json!({"issuer_url": idp.issuer, "client_id": CLIENT_ID})).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["client_secret_set"], false);
        let (status, updated) = app.api(reqwest::Method::PATCH, &server_path, key, Some(patch("custom_oauth"))).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        let (status, problem) = app.api(reqwest::Method::DELETE, &oidc_path, key, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "in use: {problem}");
        app.api(reqwest::Method::PATCH, &server_path, key, Some(patch("platform_oauth"))).await;
        let (status, _) = app.api(reqwest::Method::DELETE, &oidc_path, key, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        // Without --oidc-allow-private, a provider on a private address is refused.
        let strict = oauth_app(db, &[], |_| {}).await;
        let other = strict.app.create_server(&strict.tenant, "strict", json!({})).await;
        let path = format!("/servers/{}/oidc", other["id"].as_str().unwrap());
        let body = json!({"issuer_url": idp.issuer, "client_id": CLIENT_ID});
        let (status, problem) = strict.app.api(reqwest::Method::PUT, &path, &strict.tenant.key, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    }

    async fn a_switch_to_custom_oauth_and_its_providers_removal_at_once_cannot_both_hold(db: &TestDatabase) {
        // The switch checks that the provider is there, the removal that the server does
        // not use it: each alone passes against the other's old row.
        let oauth = oauth_app(db, &[], |settings| settings.auth.oidc_allow_private = true).await;
        let (app, key) = (&oauth.app, &oauth.tenant.key);
        let server = app.create_server(&oauth.tenant, "acme", json!({})).await;
        let id = server["id"].as_str().unwrap();
        let idp = Idp::start(&[format!("{}/oidc/callback", oauth.issuer("acme"))], &[]).await;
        let (server_path, oidc_path) = (format!("/servers/{id}"), format!("/servers/{id}/oidc"));
        let provider = json!({"issuer_url": idp.issuer, "client_id": CLIENT_ID});
        for round in 1..=8 {
            let (status, view) = app.api(reqwest::Method::PUT, &oidc_path, key, Some(provider.clone())).await;
            assert_eq!(status, StatusCode::OK, "round {round}: {view}");
            let ((switched, switched_body), (removed, removed_body)) = tokio::join!(
                app.api(reqwest::Method::PATCH, &server_path, key, Some(json!({"auth_mode": "custom_oauth"}))),
                app.api(reqwest::Method::DELETE, &oidc_path, key, None),
            );
            assert!(!(switched.is_success() && removed.is_success()),
                "round {round}: both passed: {switched_body} {removed_body}");
            let (_, stored) = app.get(&server_path, key).await;
            let (provider_status, _) = app.get(&oidc_path, key).await;
            assert!(!(stored["auth_mode"] == "custom_oauth" && provider_status == StatusCode::NOT_FOUND),
                "round {round}: a custom_oauth server without its provider");
            if stored["auth_mode"] == "custom_oauth" {
                let back = json!({"auth_mode": "platform_oauth"});
                let (status, body) = app.api(reqwest::Method::PATCH, &server_path, key, Some(back)).await;
                assert_eq!(status, StatusCode::OK, "round {round}: {body}");
            }
        }
    }

    async fn an_email_without_email_verified_is_refused_unless_the_organization_accepts_it(db: &TestDatabase) {
        let custom = custom_app(db, &["--email-verified", "omitted"]).await;
        let oauth = &custom.oauth;
        let client = oauth.register("acme", json!({})).await;
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let refused = sign_in_at_idp(&mut oauth.person("unused@example.com"), &url).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains("does not say whether it verified"), "{}", refused.body);

        // The organization opts in.
        let body = json!({"issuer_url": custom.idp.issuer, "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "accept_unverified_email": true});
        let path = format!("/servers/{}/oidc", custom.server_id);
        let (status, view) = oauth.app.api(reqwest::Method::PUT, &path, &oauth.tenant.key, Some(body)).await;
        assert_eq!((status, &view["accept_unverified_email"]), (StatusCode::OK, &json!(true)), "{view}");
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let consent = sign_in_at_idp(&mut oauth.person("unused@example.com"), &url).await;
        assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
        assert!(consent.body.contains(EMAIL), "{}", consent.body);
    }

    async fn custom_oauth_refuses_an_unverified_email_and_relays_a_cancel(db: &TestDatabase) {
        // Claims in the ID token this time (no userinfo), and an email the provider has
        // not verified.
        let custom = custom_app(db, &["--claims-in-id-token", "--email-verified", "false"]).await;
        let oauth = &custom.oauth;
        let client = oauth.register("acme", json!({})).await;
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let mut person = oauth.person("unused@example.com");
        let refused = sign_in_at_idp(&mut person, &url).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains("not verified"), "{}", refused.body);
        let (_, users) = oauth.app.get(&format!("/end-users?email={EMAIL}"), &oauth.tenant.key).await;
        assert_eq!(users["items"], json!([]), "nobody was recorded: {users}");

        // Cancelling at the provider tells the client access_denied.
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let mut person = oauth.person("unused@example.com");
        let (form_url, form) = reach_idp_form(&mut person, &url).await;
        let back = submit_idp_form(&mut person, &form_url, &form, &[("action", "cancel")]).await;
        let location = back.location.expect("back to the client");
        assert!(location.starts_with(REDIRECT_URI), "{location}");
        let callback = Callback::parse(&location);
        assert_eq!(callback.error.as_deref(), Some("access_denied"));
        assert_eq!(callback.state.as_deref(), Some("st-123"));

        // A wrong password stays at the provider.
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let mut person = oauth.person("unused@example.com");
        let (form_url, form) = reach_idp_form(&mut person, &url).await;
        let wrong = [("username", USER), ("password", "wrong"), ("action", "login")];
        let again = submit_idp_form(&mut person, &form_url, &form, &wrong).await;
        assert!(again.body.contains("Wrong username or password"), "{}", again.body);
        assert_ne!(PASSWORD, "wrong");

        // The server leaves custom_oauth while someone is at the provider: their sign-in
        // page offers the email code instead (no redirect loop, no stale trip).
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let mut person = oauth.person("grace@example.com");
        let login = person.get(&url).await.location.expect("a login page");
        assert_eq!(person.get(&login).await.status, StatusCode::SEE_OTHER, "to the provider");
        let path = format!("/servers/{}", custom.server_id);
        let (status, _) = oauth.app.api(reqwest::Method::PATCH, &path, &oauth.tenant.key,
            Some(json!({"auth_mode": "platform_oauth"}))).await;
        assert_eq!(status, StatusCode::OK);
        let page = person.get(&login).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("name=\"email\""), "{}", page.body);
        let code_page = person.send_email(&login, &page).await;
        assert!(code_page.body.contains("name=\"code\""), "{}", code_page.body);
    }
}
