//! Sign-in end to end: the discovery documents with their exact issuers, the official
//! Python client through the whole flow in both eras, and tokens that rotate and revoke.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RawMcp, STATELESS_ERA, python_script};
use crate::oauth_helpers::oauth_app;

async fn get_json(http: &reqwest::Client, url: &str, host: Option<&str>) -> (StatusCode, Value) {
    let mut request = http.get(url);
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

backend_tests! {
    async fn discovery_names_the_exact_issuer_by_path_and_by_host(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let app = &oauth.app;
        app.create_server(&oauth.tenant, "open", json!({})).await;
        let port = app.app.addr.port();

        // 401 with the challenge that starts everything.
        let refused = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA).call(1, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let challenge = refused.headers["www-authenticate"].to_str().unwrap().to_owned();
        let prm_url = format!("{}/.well-known/oauth-protected-resource/s/acme/mcp", app.url);
        assert_eq!(challenge, format!("Bearer resource_metadata=\"{prm_url}\", scope=\"mcp\""));

        // Path fallback: issuer {origin}/s/acme.
        let issuer = oauth.issuer("acme");
        let (status, prm) = get_json(&app.http, &prm_url, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(prm["resource"], oauth.resource("acme"));
        assert_eq!(prm["authorization_servers"], json!([issuer]));
        assert_eq!(prm["scopes_supported"], json!(["mcp"]));
        for url in [
            format!("{}/.well-known/oauth-authorization-server/s/acme", app.url),
            format!("{}/.well-known/openid-configuration/s/acme", app.url),
            format!("{issuer}/.well-known/openid-configuration"),
        ] {
            let (status, metadata) = get_json(&app.http, &url, None).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            assert_eq!(metadata["issuer"], issuer, "{url}");
            assert_eq!(metadata["authorization_endpoint"], format!("{issuer}/authorize"));
            assert_eq!(metadata["token_endpoint"], format!("{issuer}/token"));
            assert_eq!(metadata["registration_endpoint"], format!("{issuer}/register"));
            assert_eq!(metadata["revocation_endpoint"], format!("{issuer}/revoke"));
            assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
            assert_eq!(metadata["client_id_metadata_document_supported"], true);
            assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
            assert_eq!(metadata["response_types_supported"], json!(["code"]));
            assert_eq!(metadata["grant_types_supported"], json!(["authorization_code", "refresh_token"]));
            // OpenID discovery's required members there, and only there.
            let openid = url.contains("openid-configuration");
            assert_eq!(metadata.get("jwks_uri").is_some(), openid, "{url}");
            if openid {
                assert_eq!(metadata["jwks_uri"], format!("{issuer}/jwks"));
                assert_eq!(metadata["subject_types_supported"], json!(["public"]));
                assert_eq!(metadata["id_token_signing_alg_values_supported"], json!(["RS256"]));
            }
        }
        // No token is signed: the key set is empty.
        let (status, keys) = get_json(&app.http, &format!("{issuer}/jwks"), None).await;
        assert_eq!((status, keys), (StatusCode::OK, json!({"keys": []})));

        // Virtual host: issuer is the origin, PRM at both well-known locations.
        let host = "acme.localhost";
        let origin = format!("http://{host}:{port}");
        let vhost_challenge = RawMcp::new(format!("{}/mcp", app.url), STATELESS_ERA).with_host(host)
            .call(1, "tools/list", json!({})).await;
        assert!(vhost_challenge.headers["www-authenticate"].to_str().unwrap()
            .contains(&format!("resource_metadata=\"{origin}/.well-known/oauth-protected-resource/mcp\"")));
        for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
            let (status, prm) = get_json(&app.http, &format!("{}{path}", app.url), Some(host)).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(prm["resource"], format!("{origin}/mcp"));
            assert_eq!(prm["authorization_servers"], json!([origin]));
        }
        for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            let (_, metadata) = get_json(&app.http, &format!("{}{path}", app.url), Some(host)).await;
            assert_eq!(metadata["issuer"], origin, "{path}");
            assert_eq!(metadata["token_endpoint"], format!("{origin}/token"));
        }

        // Servers without sign-in, unknown servers and the bare host have no authorization server.
        for url in [
            format!("{}/.well-known/oauth-protected-resource/s/open/mcp", app.url),
            format!("{}/.well-known/oauth-authorization-server/s/nope", app.url),
            format!("{}/.well-known/oauth-authorization-server", app.url),
        ] {
            let (status, body) = get_json(&app.http, &url, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{url}");
            assert!(!body.to_string().contains("acme"), "names no tenant");
        }
        let open = RawMcp::new(app.mcp_path_url("open"), STATELESS_ERA).call(1, "tools/list", json!({})).await;
        assert_eq!(open.status, StatusCode::OK, "open servers need no token");
    }

    /// Behind a TLS-terminating proxy (`--public-url-scheme https`), every address the
    /// discovery documents and the challenge give is https: a client must never be sent
    /// to plain http for its tokens.
    async fn behind_tls_the_documents_and_the_challenge_name_https(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |s| s.platform.public_scheme = "https".into()).await;
        let app = &oauth.app;
        let refused = RawMcp::new(app.mcp_path_url("acme"), STATELESS_ERA).call(1, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let challenge = refused.headers["www-authenticate"].to_str().unwrap().to_owned();
        let prm_url = challenge.split('"').nth(1).unwrap().to_owned();
        assert!(prm_url.starts_with("https://"), "{challenge}");
        let path = prm_url.split_once("/.well-known/").unwrap().1;
        let (status, prm) = get_json(&app.http, &format!("{}/.well-known/{path}", app.url), None).await;
        assert_eq!(status, StatusCode::OK, "{prm}");
        assert!(prm["resource"].as_str().unwrap().starts_with("https://"), "{prm}");
        let issuer = prm["authorization_servers"][0].as_str().unwrap().to_owned();
        assert!(issuer.starts_with("https://") && issuer.ends_with("/s/acme"), "{prm}");
        let (_, metadata) = get_json(&app.http, &format!("{}/.well-known/oauth-authorization-server/s/acme", app.url), None).await;
        assert_eq!(metadata["issuer"], issuer.as_str(), "{metadata}");
        for endpoint in ["authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint"] {
            assert!(metadata[endpoint].as_str().unwrap().starts_with(&issuer), "{endpoint}: {metadata}");
        }
    }

    async fn python_client_signs_in_and_calls_tools_in_both_eras(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let app = &oauth.app;
        let server = app.get("/servers", &oauth.tenant.key).await.1["items"][0]["id"].as_str().unwrap().to_owned();
        let walkthrough = app.seed_walkthrough(&oauth.tenant, "Intro", 2, Some((&server, 0))).await;
        let url = app.mcp_path_url("acme");
        let outbox = oauth.outbox.to_string_lossy().into_owned();
        let report = python_script("oauth_flow.py", &[
            "--url", &url, "--outbox", &outbox, "--email", "Ada@Example.com",
            "--modes", "legacy,2026-07-28", "--walkthrough-id", &walkthrough.id,
        ]).await;
        assert_eq!(report["error"], Value::Null, "client error: {report}");
        assert_eq!(report["authorizations"], 1, "one sign-in serves both connections: {report}");
        assert_eq!(report["registered"], true);
        let callback = &report["callback"];
        assert_eq!(callback["iss"], oauth.issuer("acme"), "RFC 9207 iss");
        for (mode, version) in [("legacy", "2025-11-25"), ("2026-07-28", "2026-07-28")] {
            let run = &report["modes"][mode];
            assert_eq!(run["protocol_version"], version, "{mode}: {report}");
            assert!(run["tools"].as_array().unwrap().contains(&json!("select_walkthrough")));
            assert_eq!(run["support"]["is_error"], false, "{mode}: {run}");
            assert_eq!(run["walkthrough"]["is_error"], false, "{mode}: {run}");
        }
        assert_eq!(report["modes"]["2026-07-28"]["walkthrough"]["structured"]["resumed"], true,
            "the second era resumes the first era's progress: the same person");

        // The calls were made as the verified email.
        let (_, requests) = app.get("/support-requests", &oauth.tenant.key).await;
        let items = requests["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|r| r["email"] == "ada@example.com"), "{requests}");
        let (_, users) = app.get("/end-users?email=ada@example.com", &oauth.tenant.key).await;
        let person = &users["items"][0];
        assert_eq!(person["email_verified"], true);
        let calls = app.wait_for_tool_calls(&oauth.tenant, 4).await;
        assert!(calls.iter().all(|c| c["end_user_id"] == person["id"]), "every call names the person");
    }

    async fn tokens_refresh_rotate_and_revoke(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let tokens = oauth.sign_in("acme", "ada@example.com").await;
        let listed = oauth.mcp("acme", Some(&tokens.access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);

        let refresh = tokens.refresh.clone().expect("a refresh token");
        let (status, rotated) = oauth.refresh("acme", &tokens.client, &refresh).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        let access = rotated["access_token"].as_str().unwrap();
        assert_ne!(rotated["refresh_token"].as_str().unwrap(), refresh, "rotated");
        let listed = oauth.mcp("acme", Some(access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(listed.status, StatusCode::OK);

        // RFC 7009: revoking the new refresh token revokes its whole family.
        let response = oauth.app.http.post(format!("{}/revoke", oauth.issuer("acme")))
            .form(&[("token", rotated["refresh_token"].as_str().unwrap()), ("client_id", tokens.client.id.as_str())])
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let refused = oauth.mcp("acme", Some(access), None).call(1, "tools/list", json!({})).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        let www = refused.headers["www-authenticate"].to_str().unwrap();
        assert!(www.contains("error=\"invalid_token\"") && www.contains("revoked"), "{www}");
        // Unknown tokens are "revoked" too, silently.
        let response = oauth.app.http.post(format!("{}/revoke", oauth.issuer("acme")))
            .form(&[("token", "gpa_nonsense"), ("client_id", tokens.client.id.as_str())])
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    async fn confidential_clients_authenticate_with_their_secret(db: &TestDatabase) {
        let oauth = oauth_app(db, &["acme"], |_| {}).await;
        let client = oauth.register("acme", json!({"token_endpoint_auth_method": "client_secret_basic"})).await;
        let secret = client.secret.clone().expect("a secret for a confidential client");
        let pkce = crate::oauth_helpers::Pkce::new();
        let url = oauth.authorize_url("acme", &client, &pkce, &[]);
        let callback = oauth.person("ada@example.com").approve(&oauth, &url).await;
        let wrong = crate::oauth_helpers::OAuthClient { secret: Some("gps_wrong".into()), ..client };
        let (status, body) = oauth.exchange("acme", &wrong, &callback.code, &pkce.verifier).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
        let right = crate::oauth_helpers::OAuthClient { secret: Some(secret), ..wrong };
        let (status, body) = oauth.exchange("acme", &right, &callback.code, &pkce.verifier).await;
        assert_eq!(status, StatusCode::OK, "an unauthenticated attempt does not spend the code: {body}");
        assert!(body["access_token"].as_str().unwrap().starts_with("gpa_"));
    }
}

/// A minimal SMTP server that keeps every message it is given.
async fn smtp_sink() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = mails.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await?;
                while let Some(line) = lines.next_line().await? {
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "DATA" => {
                            write.write_all(b"354 end with .\r\n").await?;
                            let mut message = String::new();
                            while let Some(line) = lines.next_line().await? {
                                if line == "." {
                                    break;
                                }
                                message.push_str(&line);
                                message.push('\n');
                            }
                            kept.lock().unwrap().push(message);
                            b"250 queued\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await?;
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await?;
                }
                Ok::<_, std::io::Error>(())
            });
        }
    });
    (port, mails)
}

backend_tests! {
    async fn sign_in_codes_go_out_by_smtp(db: &TestDatabase) {
        let (port, mails) = smtp_sink().await;
        let oauth = oauth_app(db, &["acme"], |s| s.auth.smtp_url = Some(format!("smtp://127.0.0.1:{port}"))).await;
        let client = oauth.register("acme", json!({})).await;
        let url = oauth.authorize_url("acme", &client, &crate::oauth_helpers::Pkce::new(), &[]);
        let mut person = oauth.person("ada@example.com");
        let (login, page) = person.start(&url).await;
        let code_page = person.send_email(&login, &page).await;
        assert!(code_page.body.contains("name=\"code\""), "{}", code_page.body);
        let mail = mails.lock().unwrap().last().cloned().expect("a mail reached the SMTP server");
        assert!(mail.contains("To: ada@example.com"), "{mail}");
        let subject = mail.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap();
        let code = subject.split_whitespace().next().unwrap();
        assert!(code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()), "{subject}");
        let signed_in = person.send_code(&code_page, code).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
        assert!(!oauth.outbox.exists(), "with SMTP nothing is written to the outbox");
    }
}
