//! What call-time policies read of a signed-in person besides their email: the identity
//! provider they signed in at, the groups its ID token named, and their role when their
//! email is a member's. A real OpenID Connect provider (oidc-provider) signs the person
//! in for a `custom_oauth` server; the policies decide `get_support` by each.

use guidepost_domain::{Email, OrgId, Role};
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::oauth_helpers::{Callback, OAuthApp, Pkce};
use crate::oidc_idp::{EMAIL, custom_app, sign_in_at_idp};

/// Publishes `source`; it must be accepted.
async fn publish(oauth: &OAuthApp, source: &str) {
    let body = json!({ "source": source });
    let (status, published) = oauth
        .app
        .api(Method::PUT, "/policies", &oauth.tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{published}");
}

/// The person signs in at the provider and approves: the platform's access token.
async fn signed_in(oauth: &OAuthApp) -> String {
    let client = oauth.register("acme", json!({})).await;
    let pkce = Pkce::new();
    let url = oauth.authorize_url("acme", &client, &pkce, &[]);
    let mut person = oauth.person("unused@example.com");
    let consent = sign_in_at_idp(&mut person, &url).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    let csrf = consent.csrf();
    let fields = [("csrf_token", csrf.as_str()), ("decision", "approve")];
    let answer = person.post(&consent.action("/consent"), &fields).await;
    let callback = Callback::parse(answer.location.as_deref().expect("back to the client"));
    let (status, tokens) = oauth
        .exchange("acme", &client, &callback.code, &pkce.verifier)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// `get_support` as the token's person: `None` when it ran, else the refusal.
async fn refusal(oauth: &OAuthApp, token: &str, id: i64) -> Option<String> {
    let mcp = oauth.mcp("acme", Some(token), None);
    let arguments =
        json!({"title": "Cannot deploy", "problem_description": "The button does nothing."});
    let answer = mcp.call_tool(id, "get_support", arguments).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.body["result"].is_object(),
        "a tool's answer: {}",
        answer.body
    );
    match answer.body["result"]["isError"] {
        Value::Bool(true) => Some(answer.tool_error_text()),
        _ => None,
    }
}

backend_tests! {
    async fn a_persons_provider_groups_and_role_decide_their_calls(db: &TestDatabase) {
        let custom = custom_app(db, &["--claims-in-id-token", "--groups", "eng,oncall"]).await;
        let oauth = &custom.oauth;
        let issuer = &custom.idp.issuer;
        let token = signed_in(oauth).await;

        // Signed in at the organization's provider, in the on-call group: passes.
        publish(oauth, &format!(
            r#"permit(principal, action, resource);
               @id("oncall-at-acme") @reason("Only the on-call group, signed in at Acme's provider.")
               forbid(principal, action, resource) when {{ resource.tool == "get_support" }}
               unless {{ principal is Guidepost::Person && principal.groups.contains("oncall")
                         && principal.identity_provider == "{issuer}" }};"#)).await;
        assert_eq!(refusal(oauth, &token, 1).await, None);

        // Another provider, or a group the ID token did not name: refused, naming the policy.
        publish(oauth,
            r#"permit(principal, action, resource);
               @id("platform-sign-in") @reason("Sign in with an emailed code.")
               forbid(principal, action, resource)
               unless { principal is Guidepost::Person && principal.identity_provider == "platform" };"#).await;
        let refused = refusal(oauth, &token, 2).await.expect("refused");
        assert!(refused.contains("platform-sign-in") && refused.contains("emailed code"), "{refused}");
        publish(oauth,
            r#"permit(principal, action, resource);
               @id("admins-only") forbid(principal, action, resource)
               unless { principal is Guidepost::Person && principal.groups.contains("admins") };"#).await;
        let refused = refusal(oauth, &token, 3).await.expect("refused");
        assert!(refused.contains("admins-only"), "{refused}");

        // The role is the organization's member's with the person's email, read on each
        // call: none, then viewer (refused), then editor (passes).
        publish(oauth,
            r#"permit(principal, action, resource);
               @id("editors-only") forbid(principal, action, resource)
               unless { principal is Guidepost::Person && principal has role
                        && ["owner", "editor"].contains(principal.role) };"#).await;
        let refused = refusal(oauth, &token, 4).await.expect("refused without a role");
        assert!(refused.contains("editors-only"), "{refused}");
        let store = &oauth.app.store;
        let org: &OrgId = &oauth.tenant.org;
        let email = Email::parse(EMAIL).unwrap();
        let member = store.create_member(org, &email, Role::Viewer).await.unwrap();
        assert!(refusal(oauth, &token, 5).await.is_some(), "a viewer is refused");
        store.set_member_role(org, &member.id, Role::Editor).await.unwrap();
        assert_eq!(refusal(oauth, &token, 6).await, None, "an editor passes");
    }
}
