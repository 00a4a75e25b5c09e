//! A person's connection serves only the servers whose people sign in the way it was
//! made under: an end user is one email across an organization's servers, so
//! without this the weakest sign-in among them would decide who uses a person's account.
//! Ada connects her account through the gateway's server (the platform's own sign-in);
//! the same email signed in through the organization's OpenID provider at its other
//! server is asked to connect there, and nothing reaches the remote as Ada's account.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::connections_people::{
    call_support, connect, gateway_of_with, install_for_people, link_in, platform_origin,
};
use crate::oauth_helpers::{Callback, OAuthApp, Pkce, oauth_app};
use crate::oidc_idp::{CLIENT_ID, CLIENT_SECRET, EMAIL, Idp, sign_in_at_idp};

/// Makes the gateway's server `partner`, whose people sign in at `idp`; its id.
async fn partner_server(gateway: &OAuthApp) -> (String, Idp) {
    let (app, key) = (&gateway.app, &gateway.tenant.key);
    let server = app
        .create_server(
            &gateway.tenant,
            "partner",
            json!({"product_name": "Partner"}),
        )
        .await;
    let id = server["id"].as_str().unwrap().to_owned();
    let idp = Idp::start(
        &[format!("{}/oidc/callback", gateway.issuer("partner"))],
        &[],
    )
    .await;
    let provider =
        json!({"issuer_url": idp.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let (status, body) = app
        .api(
            Method::PUT,
            &format!("/servers/{id}/oidc"),
            key,
            Some(provider),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let custom = json!({"auth_mode": "custom_oauth"});
    let (status, body) = app
        .api(Method::PATCH, &format!("/servers/{id}"), key, Some(custom))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (id, idp)
}

/// Ada's access token at `partner`, signed in at its provider as `EMAIL`.
async fn signed_in_at_partner(gateway: &OAuthApp) -> String {
    let client = gateway.register("partner", json!({})).await;
    let pkce = Pkce::new();
    let url = gateway.authorize_url("partner", &client, &pkce, &[]);
    let mut person = gateway.person("unused@example.com");
    let consent = sign_in_at_idp(&mut person, &url).await;
    assert!(consent.body.contains(EMAIL), "{}", consent.body);
    let fields = [
        ("csrf_token", consent.csrf()),
        ("decision", "approve".to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = person.post(&consent.action("/consent"), &fields).await;
    let callback = Callback::parse(answer.location.as_deref().unwrap());
    let (status, tokens) = gateway
        .exchange("partner", &client, &callback.code, &pkce.verifier)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn support_titles(remote: &OAuthApp) -> Vec<Value> {
    let (_, requests) = remote
        .app
        .get("/support-requests", &remote.tenant.key)
        .await;
    requests["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].clone())
        .collect()
}

backend_tests! {
    async fn a_connection_made_under_one_sign_in_is_not_used_under_another(db: &TestDatabase) {
        let remote = oauth_app(db, &["remote"], |_| {}).await;
        let gateway = gateway_of_with(db, &remote, "", |settings| {
            settings.auth.oidc_allow_private = true;
        })
        .await;
        let id = install_for_people(&remote, &gateway).await;
        let (partner, _idp) = partner_server(&gateway).await;
        let path = format!("/servers/{partner}/upstreams/{id}");
        let (status, body) = gateway.app
            .api(Method::PUT, &path, &gateway.tenant.key, Some(json!({"prefix": "rm"})))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // Ada connects her own account through the platform's sign-in.
        let at_gateway = gateway.sign_in("gateway", EMAIL).await;
        let asked = call_support(&gateway, &at_gateway.access, "Before").await;
        let (status, page) = connect(&remote, &gateway, &link_in(&asked), EMAIL, "ada@remote.example").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let called = call_support(&gateway, &at_gateway.access, "Through the gateway").await;
        assert_ne!(called["result"]["isError"], true, "{called}");

        // The same email through the organization's provider, at the other server: asked
        // to connect there, and nothing reaches the remote as Ada's account.
        let at_partner = signed_in_at_partner(&gateway).await;
        let mcp = gateway.mcp("partner", Some(&at_partner), None);
        let arguments = json!({"title": "Through the partner", "problem_description": "Mine?"});
        let refused = mcp.call_tool(1, "rm__get_support", arguments).await.body;
        assert_eq!(refused["result"]["isError"], true, "{refused}");
        assert!(refused.to_string().contains("not connected yet"), "{refused}");
        let link = link_in(&refused);
        assert!(link.starts_with(&format!("{}/connect/gpc_", platform_origin(&gateway))), "{link}");
        let titles = support_titles(&remote).await;
        assert!(!titles.contains(&json!("Through the partner")), "{titles:?}");

        // Her connection still serves the server it was made through.
        let again = call_support(&gateway, &at_gateway.access, "Gateway again").await;
        assert_ne!(again["result"]["isError"], true, "{again}");
        assert!(support_titles(&remote).await.contains(&json!("Gateway again")));
    }
}
