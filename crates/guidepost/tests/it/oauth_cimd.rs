//! Client ID Metadata Documents: a client known only by the URL of its metadata document
//! signs a person in, with our Rust test client and with the official Python client; one
//! too large or too slow is refused in words. The document is served on loopback here,
//! which `--cimd-allow-private` permits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::python_script;
use crate::oauth_helpers::{OAuthClient, Pkce, REDIRECT_URI, oauth_app};

/// Serves a client metadata document at `/client.json` (cacheable for a minute) and
/// counts how often it is fetched.
async fn serve_document() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/client.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let (document_url, counter) = (url.clone(), hits.clone());
    let app = Router::new().route(
        "/client.json",
        get(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            let document = json!({
                "client_id": document_url,
                "client_name": "Docs Client",
                "redirect_uris": [REDIRECT_URI],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "none",
            });
            async move {
                (
                    [("cache-control", "public, max-age=60")],
                    axum::Json(document),
                )
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// Serves documents past the limits: `/big.json` (70 KiB, for a client named by that URL)
/// and `/slow.json` (answered after 7 s); the server's base URL.
async fn serve_unfit_documents() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let big = json!({
        "client_id": format!("{base}/big.json"),
        "client_name": "Big Client",
        "redirect_uris": [REDIRECT_URI],
        "token_endpoint_auth_method": "none",
        "padding": "x".repeat(70 * 1024),
    });
    let app = Router::new()
        .route("/big.json", get(move || async move { axum::Json(big) }))
        .route(
            "/slow.json",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(7)).await;
                axum::Json(json!({}))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

backend_tests! {
    async fn a_document_too_large_or_too_slow_is_refused_in_words(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let base = serve_unfit_documents().await;
        let pkce = Pkce::new();
        for (path, says) in [("/big.json", "larger than 64 KiB"), ("/slow.json", "longer than 5 s")] {
            let client = OAuthClient { id: format!("{base}{path}"), secret: None, redirect_uri: REDIRECT_URI.into() };
            let page = oauth.person("ada@example.com").get(&oauth.authorize_url("acme", &client, &pkce, &[])).await;
            assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}: {}", page.body);
            assert!(page.body.contains(says), "{path}: {}", page.body);
        }
    }

    async fn a_client_known_by_its_metadata_document_signs_in(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let (url, hits) = serve_document().await;
        let client = OAuthClient { id: url.clone(), secret: None, redirect_uri: REDIRECT_URI.into() };
        let pkce = Pkce::new();
        let authorize = oauth.authorize_url("acme", &client, &pkce, &[]);
        let mut person = oauth.person("ada@example.com");
        let (login, page) = person.start(&authorize).await;
        let code_page = person.send_email(&login, &page).await;
        let signed_in = person.send_code(&code_page, &oauth.code_for("ada@example.com")).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
        let consent = person.get(&login).await;
        assert!(consent.body.contains("Docs Client") && consent.body.contains("127.0.0.1:9"),
            "the consent page names the client and the redirect host: {}", consent.body);
        // The document's author picks its name; what the platform checked is where the
        // document is served, and that is what the page vouches for.
        assert!(consent.body.contains("name given by the app itself"), "{}", consent.body);
        assert!(consent.body.contains("<dt>Described by</dt><dd><strong>127.0.0.1</strong>"), "{}", consent.body);
        let answer = person.post(&consent.action("/consent"), &[("csrf_token", &consent.csrf()), ("decision", "approve")]).await;
        let callback = crate::oauth_helpers::Callback::parse(&answer.location.unwrap());
        let (status, tokens) = oauth.exchange("acme", &client, &callback.code, &pkce.verifier).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let listed = oauth.mcp("acme", tokens["access_token"].as_str(), None).call(1, "tools/list", json!({})).await;
        assert_eq!(listed.status, StatusCode::OK);
        assert_eq!(hits.load(Ordering::SeqCst), 1, "the document is cached by its max-age");

        // A document that names another client_id is refused.
        let impostor = OAuthClient { id: format!("{url}?other"), secret: None, redirect_uri: REDIRECT_URI.into() };
        let page = oauth.person("ada@example.com").get(&oauth.authorize_url("acme", &impostor, &pkce, &[])).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert!(page.body.contains("client_id is not the URL"), "{}", page.body);
    }

    async fn python_client_signs_in_with_a_client_metadata_document(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let (url, _) = serve_document().await;
        let outbox = oauth.outbox.to_string_lossy().into_owned();
        let report = python_script("oauth_flow.py", &[
            "--url", &oauth.app.mcp_path_url("acme"), "--outbox", &outbox, "--email", "ada@example.com",
            "--modes", "2026-07-28", "--client-metadata-url", &url,
        ]).await;
        assert_eq!(report["error"], Value::Null, "client error: {report}");
        assert_eq!(report["client_id"], url, "no registration: the URL is the client id");
        assert_eq!(report["modes"]["2026-07-28"]["support"]["is_error"], false, "{report}");
    }
}
