//! A person's own connections page on the platform host: reached from the page
//! that says their account is connected, it signs them in through the hosted server they
//! connected from, lists their connections (nobody else's) and disconnects one, revoked
//! at the upstream; the forms work only in the browser that signed in.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::Value;

use crate::connections_people::{
    call_support, connect, install_for_people, link_in, platform_origin, remote_and_gateway,
};
use crate::oauth_helpers::{OAuthApp, Person};

const ADA: (&str, &str) = ("ada@people.example", "ada@remote.example");
const BOB: (&str, &str) = ("bob@people.example", "bob@remote.example");

/// Connects `person` (their gateway and remote emails): the page that says so.
async fn connected(
    remote: &OAuthApp,
    gateway: &OAuthApp,
    person: (&str, &str),
) -> (String, String) {
    let tokens = gateway.sign_in("gateway", person.0).await;
    let asked = call_support(gateway, &tokens.access, "Before connecting").await;
    let (status, page) = connect(remote, gateway, &link_in(&asked), person.0, person.1).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    (page, tokens.access)
}

/// The link to the connections page on the "connected" page.
fn manage_link(page: &str) -> String {
    let start = page
        .find("href=\"")
        .map(|i| i + 6)
        .unwrap_or_else(|| panic!("a link in {page}"));
    page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}

/// Signs `browser` in on the connections page through the gateway's server: the list.
async fn open_page(gateway: &OAuthApp, browser: &mut Person, link: &str) -> String {
    let opened = browser.get(link).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let authorize = opened.location.expect("on to the server's sign-in");
    assert!(authorize.contains("/s/gateway/authorize?"), "{authorize}");
    let callback = format!("{}/connect/mine/callback", platform_origin(gateway));
    let back = browser
        .approve_keeping(gateway, &authorize, &callback)
        .await;
    let signed_in = browser.get(&back).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    // The callback works once.
    let replayed = browser.get(&back).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.body
    );
    let list = browser
        .get(&format!("{}/connect/mine", platform_origin(gateway)))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    list.body
}

fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

backend_tests! {
    async fn a_person_sees_and_disconnects_their_own_connections(db: &TestDatabase) {
        let (remote, gateway) = remote_and_gateway(db).await;
        install_for_people(&remote, &gateway).await;
        let (page, ada_token) = connected(&remote, &gateway, ADA).await;
        let (_, bob_token) = connected(&remote, &gateway, BOB).await;
        let link = manage_link(&page);
        assert_eq!(link, format!("{}/connect/mine?server=gateway", platform_origin(&gateway)));

        let mut ada = gateway.person(ADA.0);
        let list = open_page(&gateway, &mut ada, &link).await;
        assert!(list.contains("Remote") && list.contains("Disconnect"), "{list}");
        assert!(!list.contains(BOB.1), "nobody else's connections: {list}");
        let upstream = field(&list, "upstream");
        let form_token = field(&list, "form_token");
        let disconnect = format!("{}/connect/mine/disconnect", platform_origin(&gateway));

        // Another browser, or a form without the session's token, changes nothing.
        let mut stranger = gateway.person("mallory@people.example");
        let refused = stranger.post(&disconnect, &[("upstream", &upstream), ("form_token", &form_token)]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        let forged = ada.post(&disconnect, &[("upstream", &upstream), ("form_token", "forged")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
        let still: Value = call_support(&gateway, &ada_token, "Still connected").await;
        assert_ne!(still["result"]["isError"], true, "{still}");

        // Ada disconnects: gone from her page, and her next call asks to connect again.
        let done = ada.post(&disconnect, &[("upstream", &upstream), ("form_token", &form_token)]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        let after = ada.get(&format!("{}{}", platform_origin(&gateway), done.location.unwrap())).await;
        assert!(after.body.contains("Disconnected from Remote"), "{}", after.body);
        assert!(after.body.contains("no connected accounts"), "{}", after.body);
        let asked = call_support(&gateway, &ada_token, "After disconnecting").await;
        assert!(asked.to_string().contains("not connected yet"), "{asked}");
        // Bob's connection is untouched.
        let bobs = call_support(&gateway, &bob_token, "Bob still").await;
        assert_ne!(bobs["result"]["isError"], true, "{bobs}");

        let (_, audit) = gateway.app.get("/audit-events", &gateway.tenant.key).await;
        let by_person = audit["items"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "connection.disconnected")
            .filter(|e| e["actor"].as_str().is_some_and(|a| a.starts_with("end_user:msu_")))
            .count();
        assert_eq!(by_person, 1, "{audit}");
    }

    async fn the_page_needs_a_server_whose_people_sign_in(db: &TestDatabase) {
        let (_remote, gateway) = remote_and_gateway(db).await;
        let mut browser = gateway.person("ada@people.example");
        let unknown = browser.get(&format!("{}/connect/mine?server=nowhere", platform_origin(&gateway))).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
        let bare = browser.get(&format!("{}/connect/mine", platform_origin(&gateway))).await;
        assert_eq!(bare.status, StatusCode::OK);
        assert!(bare.body.contains("link your app gave you"), "{}", bare.body);
    }
}
