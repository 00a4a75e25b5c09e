//! Connections on the dashboard, by form and without JavaScript: a remote
//! entry installed with the organization's sign-in, its Connect button straight into the
//! flow, its state on the upstream page, Disconnect behind a confirmation the server
//! checks; a person's own connection on their page and in the API. Viewers see the state
//! but no button, and another organization finds nothing.

use std::sync::Arc;

use guidepost::config::Settings;
use guidepost_core::Platform;
use guidepost_core::upstreams::connections as core_connections;
use guidepost_domain::{EndUserId, Id, Role};
use guidepost_store::Store;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::Value;

use super::member;
use crate::connections::{as_the_linking_browser, sign_in_at_remote};
use crate::connections_people::{
    call_support, connect, install_for_people, link_in, platform_origin, remote_and_gateway,
};

const EDITOR: &str = "editor@gateway.example";
const ADA: &str = "ada@people.example";

/// How many store statements `connections::of_person` runs, on a store of its own so
/// that nothing else adds to its count.
async fn statements_of_person(
    db: &TestDatabase,
    gateway: &crate::oauth_helpers::OAuthApp,
    person: &str,
) -> u64 {
    let own: Arc<dyn Store> = guidepost_store::connect(&db.url).await.unwrap();
    let (platform, writer) = Platform::new(
        own.clone(),
        Settings::local(db.url.clone()).platform,
        Arc::new(guidepost_auth::IdentityProviders::new(false)),
        Arc::new(guidepost::dns::Dns::new(None)),
        guidepost_gateway::Supervisor::new(Settings::local("").gateway),
        Arc::new(guidepost_auth::UpstreamAuthorizer::new(false)),
    );
    let person: EndUserId = Id::parse(person).unwrap();
    let caller = crate::helpers::operator(&gateway.tenant.org);
    let start = own.statements_executed();
    let listed = core_connections::of_person(&platform, &caller, &person)
        .await
        .unwrap();
    let statements = own.statements_executed() - start;
    assert_eq!(listed.len(), 1, "{listed:?}");
    writer.shutdown().await;
    statements
}

/// The connections of `upstream` as the API lists them.
async fn listed(gateway: &crate::oauth_helpers::OAuthApp, path: &str) -> Vec<Value> {
    let (status, list) = gateway.app.get(path, &gateway.tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

backend_tests! {
    async fn an_editor_installs_with_the_organizations_sign_in_connects_and_disconnects(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db).await;
        let acme = &gateway.tenant;
        let mut editor = member(&gateway, acme, EDITOR, Role::Editor).await;
        let mut viewer = member(&gateway, acme, "viewer@gateway.example", Role::Viewer).await;

        // The remote entry's install form asks whose account it is reached with.
        let form = editor.get("/app/gateway/catalog/remote/install").await;
        let text = form.text();
        assert!(text.contains("name=\"sign_in\"") && text.contains("Only for servers whose people sign in"), "{text}");
        let installed = editor.post("/app/gateway/catalog/remote/install",
            &[("name", "Remote"), ("start", "on_demand"), ("sign_in", "organization")]).await;
        let page = installed.redirected_path("/app/gateway/upstreams/up_");
        let id = page.trim_start_matches("/app/gateway/upstreams/").to_owned();
        let (connect_path, disconnect_path) = (format!("{page}/connect"), format!("{page}/disconnect"));

        let shown = editor.get(&page).await;
        let text = shown.text();
        assert!(text.contains("<dt>Sign-in</dt><dd id=\"sign-in\">the organization's account"), "{text}");
        assert!(text.contains("The organization's account: <span class=\"badge warn\">not connected"), "{text}");
        assert!(text.contains(&format!("action=\"{connect_path}\"")), "{text}");
        assert!(!text.contains(&format!("action=\"{disconnect_path}\"")), "nothing to disconnect yet: {text}");
        let seen = viewer.get(&page).await;
        assert!(seen.text().contains("not connected") && !seen.body.contains(&connect_path), "{}", seen.body);

        // Connect answers with the connect link to follow (a link, not a redirect: the
        // dashboard's form-action policy would stop a form's redirect to another site).
        let origin = platform_origin(&gateway);
        let answered = editor.post(&connect_path, &[]).await;
        let body = answered.ok();
        let start = body.find("id=\"continue-connect\" href=\"").expect("the link to follow") + 28;
        let link = body[start..].split('"').next().unwrap().replace("&amp;", "&");
        assert!(link.starts_with(&format!("{origin}/connect/gpc_")), "{link}");
        let callback = sign_in_at_remote(&remote, &gateway.app, &link, EDITOR).await;
        let back = as_the_linking_browser(gateway.app.http.get(&callback), &link).send().await.unwrap();
        assert_eq!(back.status(), StatusCode::OK);

        let text = editor.get(&page).await.text();
        assert!(text.contains("<span class=\"badge ok\">connected"), "{text}");
        assert!(text.contains(&format!("action=\"{disconnect_path}\"")), "{text}");
        assert!(text.contains("Connect again"), "{text}");
        let seen = viewer.get(&page).await;
        assert!(seen.body.contains("badge ok\">connected"), "{}", seen.body);
        assert!(!seen.body.contains(&connect_path) && !seen.body.contains(&disconnect_path), "{}", seen.body);
        // Not the viewer's to press either.
        let refused = viewer.post(&disconnect_path, &[("confirm", "disconnect")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        let refused = viewer.post(&connect_path, &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        // Disconnect only with its box ticked.
        editor.get(&page).await.ok();
        let unconfirmed = editor.post(&disconnect_path, &[]).await;
        assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unconfirmed.body);
        assert!(unconfirmed.text().contains("tick the box to confirm"), "{}", unconfirmed.body);
        let connections = format!("/upstreams/{id}/connections");
        assert_eq!(listed(&gateway, &connections).await.len(), 1, "still connected");
        editor.get(&page).await.ok();
        let done = editor.post(&disconnect_path, &[("confirm", "disconnect")]).await;
        assert_eq!(done.redirected_path(&page), page);
        let text = editor.get(&done.location.unwrap()).await.text();
        assert!(text.contains("Disconnected: its tokens are revoked"), "{text}");
        assert!(text.contains("badge warn\">not connected"), "{text}");
        assert!(listed(&gateway, &connections).await.is_empty(), "gone");

        // Another organization's owner finds neither the page nor the buttons' routes.
        let other = gateway.app.create_tenant("Other").await;
        let mut theirs = member(&gateway, &other, "owner@other.example", Role::Owner).await;
        assert_eq!(theirs.get(&page).await.status, StatusCode::NOT_FOUND);
        theirs.get("/app/").await.ok();
        assert_eq!(theirs.post(&connect_path, &[]).await.status, StatusCode::NOT_FOUND);
    }

    async fn a_persons_connection_is_on_their_page_and_in_the_api(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db).await;
        let id = install_for_people(&remote, &gateway).await;
        let ada = gateway.sign_in("gateway", ADA).await;
        let asked = call_support(&gateway, &ada.access, "Before connecting").await;
        let (status, page) = connect(&remote, &gateway, &link_in(&asked), ADA, "ada@remote.example").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let people = listed(&gateway, &format!("/end-users?email={ADA}")).await;
        let person = people[0]["id"].as_str().unwrap().to_owned();

        // The API lists the person's connections; another organization's key finds nothing.
        let path = format!("/end-users/{person}/connections");
        let theirs = listed(&gateway, &path).await;
        assert_eq!(theirs.len(), 1, "{theirs:?}");
        assert_eq!(theirs[0]["upstream_id"], id.as_str());
        assert_eq!(theirs[0]["upstream_name"], "Remote");
        assert_eq!(theirs[0]["owner"], person.as_str());
        assert_eq!(theirs[0]["status"], "active");
        let other = gateway.app.create_tenant("Other").await;
        let (status, body) = gateway.app.get(&path, &other.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        // The person, their connections, the upstreams' names: whatever their number.
        assert_eq!(statements_of_person(db, &gateway, &person).await, 3);

        // The upstream page counts the people connected.
        let mut editor = member(&gateway, &gateway.tenant, EDITOR, Role::Editor).await;
        let upstream_page = editor.get(&format!("/app/gateway/upstreams/{id}")).await.text();
        assert!(upstream_page.contains("each person's own account"), "{upstream_page}");
        assert!(upstream_page.contains("1 person has connected their own account."), "{upstream_page}");

        // The person's page lists it, with Disconnect for editors only.
        let page = format!("/app/end-users/{person}");
        let disconnect = format!("{page}/upstreams/{id}/disconnect");
        let text = editor.get(&page).await.text();
        assert!(text.contains("<h2 id=\"connections\">Connections</h2>"), "{text}");
        assert!(text.contains(&format!("<a href=\"/app/gateway/upstreams/{id}\">Remote</a>")), "{text}");
        assert!(text.contains("badge ok\">connected"), "{text}");
        assert!(text.contains(&format!("action=\"{disconnect}\"")), "{text}");
        let mut viewer = member(&gateway, &gateway.tenant, "viewer@gateway.example", Role::Viewer).await;
        let seen = viewer.get(&page).await;
        assert!(seen.body.contains(">Remote</a>") && !seen.body.contains(&disconnect), "{}", seen.body);

        editor.get(&page).await.ok();
        let unconfirmed = editor.post(&disconnect, &[]).await;
        assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", unconfirmed.body);
        let done = editor.post(&disconnect, &[("confirm", "disconnect")]).await;
        assert_eq!(done.redirected_path(&page), page);
        let text = editor.get(&done.location.unwrap()).await.text();
        assert!(text.contains("Disconnected: its tokens are revoked"), "{text}");
        assert!(text.contains("No connections"), "{text}");
        assert!(listed(&gateway, &path).await.is_empty());
        let again = call_support(&gateway, &ada.access, "After disconnecting").await;
        assert!(again.to_string().contains("not connected yet"), "{again}");
    }
}
