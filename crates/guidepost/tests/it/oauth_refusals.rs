//! What the authorization server and the resource server refuse, one test each.

use std::time::Duration;

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::json;

use crate::oauth_helpers::{Callback, Pkce, REDIRECT_URI, oauth_app};

backend_tests! {
    async fn pkce_missing_or_plain_is_refused(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let pkce = Pkce::new();
        let cases: [&[(&str, Option<&str>)]; 3] = [
            &[("code_challenge", None), ("code_challenge_method", None)],
            &[("code_challenge_method", Some("plain"))],
            &[("code_challenge_method", None)],
        ];
        for overrides in cases {
            let url = oauth.authorize_url("acme", &client, &pkce, overrides);
            let page = oauth.person("ada@example.com").get(&url).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{overrides:?}");
            assert!(page.location.is_none(), "no bounce before the person acts");
            let callback = Callback::parse(&page.return_link().expect("a link back"));
            assert_eq!(callback.error.as_deref(), Some("invalid_request"), "{overrides:?}");
            assert_eq!(callback.state.as_deref(), Some("st-123"), "state is echoed");
            assert_eq!(callback.iss, Some(oauth.issuer("acme")), "RFC 9207 iss");
            assert!(callback.code.is_empty());
        }
    }

    async fn a_redirect_uri_that_does_not_match_is_refused(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let pkce = Pkce::new();
        for other in ["http://127.0.0.1:9/callback/evil", "http://127.0.0.1:10/callback", "https://evil.example/cb"] {
            let url = oauth.authorize_url("acme", &client, &pkce, &[("redirect_uri", Some(other))]);
            let page = oauth.person("ada@example.com").get(&url).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{other}");
            assert!(page.location.is_none(), "never redirected to an unregistered URI");
            assert!(page.body.contains("redirect_uri mismatch"), "{}", page.body);
        }
        // Registration refuses redirect URIs a client must not have.
        let response = oauth.app.http.post(format!("{}/register", oauth.issuer("acme")))
            .json(&json!({"redirect_uris": ["http://evil.example/cb"]})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_redirect_uri");
    }

    async fn a_second_use_of_a_code_fails_and_revokes_its_tokens(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let pkce = Pkce::new();
        let url = oauth.authorize_url("acme", &client, &pkce, &[]);
        let callback = oauth.person("ada@example.com").approve(&oauth, &url).await;
        let (status, first) = oauth.exchange("acme", &client, &callback.code, &pkce.verifier).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        let access = first["access_token"].as_str().unwrap();
        assert_eq!(oauth.mcp("acme", Some(access), None).call(1, "tools/list", json!({})).await.status, StatusCode::OK);

        let (status, second) = oauth.exchange("acme", &client, &callback.code, &pkce.verifier).await;
        assert_eq!((status, second["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        let refused = oauth.mcp("acme", Some(access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "tokens issued from a replayed code are revoked");
        let refresh = first["refresh_token"].as_str().unwrap();
        let (status, _) = oauth.refresh("acme", &client, refresh).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "so is the refresh token");
    }

    async fn server_a_token_is_refused_by_server_b(db: &TestDatabase) {
        let oauth = oauth_app(db, &["alpha", "bravo"], |_| {}).await;
        let tokens = oauth.sign_in("alpha", "ada@example.com").await;
        assert_eq!(oauth.mcp("alpha", Some(&tokens.access), None).call(1, "tools/list", json!({})).await.status, StatusCode::OK);
        let refused = oauth.mcp("bravo", Some(&tokens.access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let www = refused.headers["www-authenticate"].to_str().unwrap();
        assert!(www.contains("error=\"invalid_token\""), "{www}");
        assert!(www.contains("/s/bravo/mcp"), "B points to its own metadata: {www}");
        // Nor may A's client use A's code or refresh token at B's token endpoint.
        let refresh = tokens.refresh.as_deref().unwrap();
        let (status, body) = oauth.refresh("bravo", &tokens.client, refresh).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "A's client is unknown to B: {body}");
        // And an open server of the same organization ignores A's token rather than trusting it.
        oauth.app.create_server(&oauth.tenant, "open", json!({})).await;
        let open = oauth.mcp("open", Some(&tokens.access), None).call_tool(1, "get_support",
            json!({"title": "t", "problem_description": "d"})).await;
        assert!(open.tool_error_text().contains("email address is needed"), "not signed in there: {}", open.body);
    }

    async fn an_expired_token_is_401(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| s.auth.access_token_ttl = Duration::from_secs(1)).await;
        let tokens = oauth.sign_in("acme", "ada@example.com").await;
        assert_eq!(oauth.mcp("acme", Some(&tokens.access), None).call(1, "tools/list", json!({})).await.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let refused = oauth.mcp("acme", Some(&tokens.access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let www = refused.headers["www-authenticate"].to_str().unwrap();
        assert!(www.contains("error=\"invalid_token\"") && www.contains("expired"), "{www}");
        let (status, _) = oauth.refresh("acme", &tokens.client, tokens.refresh.as_deref().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "the refresh token outlives the access token");
    }

    async fn reuse_of_a_rotated_refresh_token_revokes_the_family(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| s.auth.refresh_grace = Duration::ZERO).await;
        let tokens = oauth.sign_in("acme", "ada@example.com").await;
        let first = tokens.refresh.clone().unwrap();
        let (status, rotated) = oauth.refresh("acme", &tokens.client, &first).await;
        assert_eq!(status, StatusCode::OK);
        let (new_access, new_refresh) = (rotated["access_token"].as_str().unwrap(), rotated["refresh_token"].as_str().unwrap());

        let (status, reused) = oauth.refresh("acme", &tokens.client, &first).await;
        assert_eq!((status, reused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        for access in [tokens.access.as_str(), new_access] {
            let refused = oauth.mcp("acme", Some(access), None).call(1, "tools/list", json!({})).await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "every access token of the family is revoked");
        }
        let (status, _) = oauth.refresh("acme", &tokens.client, new_refresh).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "and the newest refresh token too");
    }

    async fn a_client_metadata_document_on_a_private_address_is_refused(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| s.auth.cimd_allow_private = false).await;
        let pkce = Pkce::new();
        for client_id in [
            "https://127.0.0.1:9443/client.json",
            "https://localhost:9443/client.json",
            "https://[::1]/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.8/client.json",
        ] {
            let client = crate::oauth_helpers::OAuthClient { id: client_id.into(), secret: None, redirect_uri: REDIRECT_URI.into() };
            let url = oauth.authorize_url("acme", &client, &pkce, &[]);
            let page = oauth.person("ada@example.com").get(&url).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{client_id}");
            assert!(page.location.is_none());
            assert!(page.body.contains("private or local address"), "{client_id}: {}", page.body);
        }
        let plain = crate::oauth_helpers::OAuthClient { id: "http://example.com/client.json".into(), secret: None, redirect_uri: REDIRECT_URI.into() };
        let page = oauth.person("ada@example.com").get(&oauth.authorize_url("acme", &plain, &pkce, &[])).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "plain http is not a metadata document: {}", page.body);
    }

    async fn too_many_wrong_codes_lock_the_sign_in(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let mut person = oauth.person("ada@example.com");
        let (login, page) = person.start(&url).await;
        let mut page = person.send_email(&login, &page).await;
        let right = oauth.code_for("ada@example.com");
        let wrong = if right == "00000000" { "11111111" } else { "00000000" };
        for attempt in 1..=5 {
            let answer = person.send_code(&page, wrong).await;
            if attempt < 5 {
                assert_eq!(answer.status, StatusCode::BAD_REQUEST, "attempt {attempt}");
                assert!(answer.body.contains(&format!("{} attempt", 5 - attempt)), "{}", answer.body);
                page = answer;
            } else {
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "the fifth wrong code locks");
                assert!(answer.body.contains("locked"));
            }
        }
        let late = person.post(&format!("{login}/code"), &[("csrf_token", &page.csrf()), ("code", &right)]).await;
        assert_eq!(late.status, StatusCode::FORBIDDEN, "even the right code is refused now");
        assert!(late.location.is_none());
        let consent = person.post(&format!("{login}/consent"), &[("csrf_token", &page.csrf()), ("decision", "approve")]).await;
        assert!(consent.location.is_none_or(|l| !l.starts_with(REDIRECT_URI)), "no code is ever issued");
    }

    async fn forms_need_their_csrf_token_and_cookie(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let url = oauth.authorize_url("acme", &client, &Pkce::new(), &[]);
        let mut person = oauth.person("ada@example.com");
        let (login, page) = person.start(&url).await;
        let forged = person.post(&page.action("/email"), &[("csrf_token", "forged"), ("email", "ada@example.com")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let mut stranger = oauth.person("eve@example.com");
        let elsewhere = stranger.get(&login).await;
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "another browser cannot continue this sign-in");
    }

    async fn one_address_cannot_flood_the_authorization_server(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| s.auth.rate_limit_per_ip = 12).await;
        let http = &oauth.app.http;
        let register = || http.post(format!("{}/register", oauth.issuer("acme")))
            .json(&json!({"redirect_uris": [REDIRECT_URI], "client_name": "flood"})).send();
        let statuses: Vec<StatusCode> = futures::future::join_all((0..4).map(|_| register())).await
            .into_iter().map(|r| r.unwrap().status()).collect();
        assert_eq!(statuses, [StatusCode::CREATED; 4], "a burst of a third of the per-minute budget passes");
        let refused = register().await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().get("retry-after").is_some());
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        let metadata = http.get(format!("{}/.well-known/oauth-authorization-server/s/acme", oauth.app.url)).send().await.unwrap();
        assert_eq!(metadata.status(), StatusCode::OK, "discovery is not limited");
    }

    async fn a_token_without_the_mcp_scope_is_403(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({})).await;
        let pkce = Pkce::new();
        let url = oauth.authorize_url("acme", &client, &pkce, &[("scope", Some("offline_access"))]);
        let callback = oauth.person("ada@example.com").approve(&oauth, &url).await;
        let (status, tokens) = oauth.exchange("acme", &client, &callback.code, &pkce.verifier).await;
        assert_eq!(status, StatusCode::OK);
        let refused = oauth.mcp("acme", tokens["access_token"].as_str(), None).call(1, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let www = refused.headers["www-authenticate"].to_str().unwrap();
        assert!(www.contains("error=\"insufficient_scope\"") && www.contains("scope=\"mcp\""), "{www}");
    }
}
