//! Finding an upstream's authorization server and registering with it; the private
//! address fence.

use guidepost_core::upstreams::connections::Authorizer;
use guidepost_domain::UpstreamAuthorization;
use serde_json::json;

use super::{Setup, discovery, failure, server, start};
use crate::connect_client::UpstreamAuthorizer;

#[tokio::test]
async fn discovery_finds_the_server_and_registers_dynamically_without_cimd() {
    let mock = start(Setup::default()).await;
    let found = UpstreamAuthorizer::new(true)
        .discover(&discovery(&mock, "/s/acme/mcp"))
        .await
        .unwrap();
    let base = &mock.base;
    assert_eq!(
        found,
        UpstreamAuthorization {
            issuer: format!("{base}/as"),
            authorization_endpoint: format!("{base}/as/authorize"),
            token_endpoint: format!("{base}/as/token"),
            revocation_endpoint: Some(format!("{base}/as/revoke")),
            resource: format!("{base}/s/acme/mcp"),
            scopes: vec!["mcp:read".into(), "mcp:write".into()],
            iss_parameter_supported: true,
            client_id: "dynamic-client".into(),
            client_secret: Some("dynamic-secret".into()),
            registration: "dynamic".into(),
        }
    );
    // The path-suffixed document was the one read.
    assert_eq!(
        mock.seen("/.well-known/oauth-protected-resource/s/acme/mcp")
            .len(),
        1
    );
    let registration = mock.seen("/as/register");
    let sent = registration[0].json.clone().unwrap();
    assert_eq!(sent["client_name"], "Guidepost");
    assert_eq!(
        sent["redirect_uris"],
        json!(["https://guidepost.example/connect/callback"])
    );
    assert_eq!(
        sent["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(sent["response_types"], json!(["code"]));
    assert_eq!(sent["token_endpoint_auth_method"], "none");
}

#[tokio::test]
async fn the_metadata_document_is_chosen_where_the_server_takes_it() {
    let mock = start(Setup {
        cimd: true,
        ..Setup::default()
    })
    .await;
    let found = UpstreamAuthorizer::new(true)
        .discover(&discovery(&mock, "/s/acme/mcp"))
        .await
        .unwrap();
    assert_eq!(found.registration, "metadata_document");
    assert_eq!(
        found.client_id,
        "https://guidepost.example/connect/client-metadata.json"
    );
    assert_eq!(found.client_secret, None);
    assert!(mock.seen("/as/register").is_empty());

    // A platform on plain http has no document a server could fetch: it registers.
    let mut request = discovery(&mock, "/s/acme/mcp");
    request.client_metadata_url = "http://localhost:8080/connect/client-metadata.json".into();
    let found = UpstreamAuthorizer::new(true)
        .discover(&request)
        .await
        .unwrap();
    assert_eq!(found.registration, "dynamic");
}

#[tokio::test]
async fn a_preregistered_client_wins() {
    let mock = start(Setup {
        cimd: true,
        ..Setup::default()
    })
    .await;
    let mut request = discovery(&mock, "/s/acme/mcp");
    request.client_id = Some("pre-client".into());
    request.client_secret = Some("pre-secret".into());
    let found = UpstreamAuthorizer::new(true)
        .discover(&request)
        .await
        .unwrap();
    assert_eq!(found.registration, "preregistered");
    assert_eq!(found.client_id, "pre-client");
    assert_eq!(found.client_secret.as_deref(), Some("pre-secret"));
    assert!(mock.seen("/as/register").is_empty());
}

#[tokio::test]
async fn without_any_way_to_register_the_editor_is_told_to() {
    let mock = start(Setup {
        no_registration: true,
        ..Setup::default()
    })
    .await;
    let why = failure(
        UpstreamAuthorizer::new(true)
            .discover(&discovery(&mock, "/s/acme/mcp"))
            .await,
    );
    assert!(why.contains("register a client"), "{why}");
    assert!(why.contains("client ID"), "{why}");
}

#[tokio::test]
async fn the_origin_metadata_and_the_challenge_are_fallbacks() {
    let mock = start(Setup {
        root_metadata: true,
        ..Setup::default()
    })
    .await;
    let authorizer = UpstreamAuthorizer::new(true);
    let found = authorizer
        .discover(&discovery(&mock, "/other/mcp"))
        .await
        .unwrap();
    assert_eq!(found.resource, mock.base);

    let mock = start(Setup::default()).await;
    let found = authorizer
        .discover(&discovery(&mock, "/challenged/mcp"))
        .await
        .unwrap();
    assert_eq!(found.resource, format!("{}/challenged/mcp", mock.base));
    assert_eq!(found.issuer, format!("{}/as", mock.base));

    // Nothing anywhere: a failure that says where it looked.
    let why = failure(authorizer.discover(&discovery(&mock, "/nothing/mcp")).await);
    assert!(why.contains("no protected resource metadata"), "{why}");
    assert!(
        why.contains("/.well-known/oauth-protected-resource/nothing/mcp"),
        "{why}"
    );
}

#[tokio::test]
async fn the_challenge_is_read_first_and_its_scope_wins() {
    let mock = start(Setup::default()).await;
    let found = UpstreamAuthorizer::new(true)
        .discover(&discovery(&mock, "/scoped/mcp"))
        .await
        .unwrap();
    assert_eq!(found.resource, format!("{}/scoped/mcp", mock.base));
    assert_eq!(
        found.scopes,
        ["files:read", "mcp:read"],
        "the challenge's, not all three"
    );
    // Without a scope in the challenge, everything the metadata names.
    let found = UpstreamAuthorizer::new(true)
        .discover(&discovery(&mock, "/s/acme/mcp"))
        .await
        .unwrap();
    assert_eq!(found.scopes, ["mcp:read", "mcp:write"]);
}

#[tokio::test]
async fn metadata_for_another_resource_is_refused() {
    let mock = start(Setup::default()).await;
    // Asked by another name of the same host, the document names a resource that is not
    // the URL asked for (another origin).
    let mut request = discovery(&mock, "/s/acme/mcp");
    request.resource_url = request.resource_url.replace("127.0.0.1", "localhost");
    let why = failure(UpstreamAuthorizer::new(true).discover(&request).await);
    assert!(why.contains("is for"), "{why}");
}

#[tokio::test]
async fn an_issuer_mismatch_is_refused() {
    let setup = Setup {
        issuer: Some("https://elsewhere.example".into()),
        ..Setup::default()
    };
    let mock = start(setup).await;
    let why = failure(
        UpstreamAuthorizer::new(true)
            .discover(&discovery(&mock, "/s/acme/mcp"))
            .await,
    );
    assert!(why.contains("https://elsewhere.example"), "{why}");
    assert!(why.contains("issuer"), "{why}");
}

/// The mix-up: a hostile server's metadata names an honest server's
/// authorization and registration endpoints beside its own token endpoint. Refused at
/// discovery, before the platform registers at the honest server or sends anything to
/// the hostile token endpoint; an editor's allowance lets it through.
#[tokio::test]
async fn metadata_whose_endpoints_lie_off_its_issuer_is_refused_before_anything_is_sent() {
    let honest = start(Setup::default()).await;
    let hostile = start(Setup {
        endpoints_at: Some(honest.base.clone()),
        ..Setup::default()
    })
    .await;
    let client = UpstreamAuthorizer::new(true);
    let why = failure(client.discover(&discovery(&hostile, "/s/acme/mcp")).await);
    assert!(why.contains("authorization endpoint"), "{why}");
    assert!(
        why.contains(&format!("{}/as/authorize", honest.base)),
        "{why}"
    );
    assert!(why.contains("RFC 9700"), "{why}");
    assert!(why.contains("allow_foreign_oauth_endpoints"), "{why}");
    assert!(honest.seen("/as/register").is_empty(), "nothing registered");
    assert!(hostile.seen("/as/register").is_empty());
    assert!(hostile.seen("/as/token").is_empty());

    let mut allowed = discovery(&hostile, "/s/acme/mcp");
    allowed.allow_foreign_endpoints = true;
    let found = client.discover(&allowed).await.unwrap();
    assert_eq!(
        found.authorization_endpoint,
        format!("{}/as/authorize", honest.base)
    );
    assert_eq!(found.token_endpoint, format!("{}/as/token", hostile.base));
    assert_eq!(honest.seen("/as/register").len(), 1);
}

#[tokio::test]
async fn a_server_without_s256_is_refused() {
    let mock = start(Setup {
        no_s256: true,
        ..Setup::default()
    })
    .await;
    let why = failure(
        UpstreamAuthorizer::new(true)
            .discover(&discovery(&mock, "/s/acme/mcp"))
            .await,
    );
    assert!(why.contains("S256"), "{why}");
}

#[tokio::test]
async fn private_addresses_need_the_flag() {
    let mock = start(Setup::default()).await;
    let fenced = UpstreamAuthorizer::new(false);
    let port = mock.base.rsplit(':').next().unwrap();
    for url in [
        format!("http://127.0.0.1:{port}/s/acme/mcp"),
        format!("https://127.0.0.1:{port}/s/acme/mcp"),
        format!("https://localhost:{port}/s/acme/mcp"),
    ] {
        let mut request = discovery(&mock, "");
        request.resource_url = url;
        let why = failure(fenced.discover(&request).await);
        assert!(why.contains("private or local address"), "{why}");
        assert!(why.contains("--upstream-allow-private"), "{why}");
    }
    // Plain http to a public name is refused too.
    let mut request = discovery(&mock, "");
    request.resource_url = "http://mcp.example.com/mcp".into();
    let why = failure(fenced.discover(&request).await);
    assert!(why.contains("https"), "{why}");
    // An authorization server stored earlier, now on a private address.
    let why = failure(fenced.refresh(&server(&mock, None), "refresh-1").await);
    assert!(
        why.contains("the token endpoint") && why.contains("private"),
        "{why}"
    );
    assert!(mock.seen("/as/token").is_empty());
}
