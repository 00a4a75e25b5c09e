//! The code exchange, refresh and revocation at a found authorization server.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use guidepost_core::upstreams::connections::{Authorizer, AuthorizerError};

use super::{Setup, failure, server, start};
use crate::connect_client::UpstreamAuthorizer;

#[tokio::test]
async fn the_exchange_sends_the_verifier_the_resource_and_basic_auth() {
    let mock = start(Setup::default()).await;
    let authorizer = UpstreamAuthorizer::new(true);
    let redirect = "https://guidepost.example/connect/callback";
    let issued = authorizer
        .exchange(
            &server(&mock, Some("s3cr:t")),
            "code-1",
            "verifier-1",
            redirect,
        )
        .await
        .unwrap();
    assert_eq!(issued.access_token, "access-1");
    assert_eq!(issued.refresh_token.as_deref(), Some("refresh-1"));
    assert_eq!(issued.expires_in, Some(3600));
    assert_eq!(issued.account.as_deref(), Some("ada@example.com"));
    let sent = &mock.seen("/as/token")[0];
    let form = |name: &str| sent.form.get(name).cloned();
    assert_eq!(form("grant_type").as_deref(), Some("authorization_code"));
    assert_eq!(form("code").as_deref(), Some("code-1"));
    assert_eq!(form("code_verifier").as_deref(), Some("verifier-1"));
    assert_eq!(form("redirect_uri").as_deref(), Some(redirect));
    assert_eq!(form("resource"), Some(format!("{}/s/acme/mcp", mock.base)));
    assert_eq!(form("client_id"), None);
    // RFC 6749 §2.3.1: form-encoded before Base64.
    let basic = format!("Basic {}", STANDARD.encode("the+client:s3cr%3At"));
    assert_eq!(sent.authorization.as_deref(), Some(basic.as_str()));

    // A public client names itself in the body.
    authorizer
        .exchange(&server(&mock, None), "code-2", "verifier-2", redirect)
        .await
        .unwrap();
    let sent = &mock.seen("/as/token")[1];
    assert_eq!(
        sent.form.get("client_id").map(String::as_str),
        Some("the client")
    );
    assert_eq!(sent.authorization, None);
}

#[tokio::test]
async fn unusable_token_answers_fail() {
    let mock = start(Setup::default()).await;
    let authorizer = UpstreamAuthorizer::new(true);
    let server = server(&mock, None);
    let why = failure(
        authorizer
            .exchange(&server, "mac", "v", "https://g/cb")
            .await,
    );
    assert!(why.contains("Bearer"), "{why}");
    let why = failure(
        authorizer
            .exchange(&server, "huge", "v", "https://g/cb")
            .await,
    );
    assert!(why.contains("larger than 256 KiB"), "{why}");
}

#[tokio::test]
async fn refresh_maps_invalid_grant_to_refused_and_500_to_failed() {
    let mock = start(Setup::default()).await;
    let authorizer = UpstreamAuthorizer::new(true);
    let server = server(&mock, None);
    let issued = authorizer.refresh(&server, "refresh-0").await.unwrap();
    assert_eq!(issued.access_token, "access-1");
    let sent = &mock.seen("/as/token")[0];
    let form = |name: &str| sent.form.get(name).map(String::as_str);
    assert_eq!(form("grant_type"), Some("refresh_token"));
    assert_eq!(form("refresh_token"), Some("refresh-0"));
    assert_eq!(form("client_id"), Some("the client"));
    assert_eq!(
        form("resource").map(str::to_owned),
        Some(server.resource.clone())
    );

    match authorizer.refresh(&server, "revoked").await {
        Err(AuthorizerError::Refused(why)) => {
            assert!(
                why.contains("invalid_grant") && why.contains("the grant was revoked"),
                "{why}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let why = failure(authorizer.refresh(&server, "crash").await);
    assert!(why.contains("500"), "{why}");
    assert!(matches!(
        authorizer.refresh(&server, "").await,
        Err(AuthorizerError::Refused(_))
    ));
}

#[tokio::test]
async fn revoke_posts_the_token_with_the_client() {
    let mock = start(Setup::default()).await;
    let authorizer = UpstreamAuthorizer::new(true);
    authorizer
        .revoke(&server(&mock, Some("secret")), "refresh-1")
        .await
        .unwrap();
    let sent = &mock.seen("/as/revoke")[0];
    assert_eq!(
        sent.form.get("token").map(String::as_str),
        Some("refresh-1")
    );
    assert!(
        sent.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    );

    // No revocation endpoint: nothing to call.
    let mut without = server(&mock, None);
    without.revocation_endpoint = None;
    authorizer.revoke(&without, "access-1").await.unwrap();
    assert_eq!(mock.seen("/as/revoke").len(), 1);
}
