//! Members and API keys by form: an owner invites (the invitee signs in with the mailed
//! address), changes roles, removes, creates and revokes keys; the last owner stays.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;

use super::{Browser, dashboard_app, member, sign_in};

async fn an_owner_invites_changes_roles_removes_and_keeps_an_owner(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    owner.get("/app/members").await.ok();
    owner
        .post(
            "/app/members",
            &[("email", "Grace@Acme.example"), ("role", "viewer")],
        )
        .await
        .redirected_to("/app/members?done=invited");
    // The invitation names the organization and where to sign in; the invitee can.
    let invitation = std::fs::read_dir(&app.outbox)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .find(|mail| mail.contains("To: grace@acme.example"))
        .expect("an invitation");
    assert!(
        invitation.contains("You are invited to Acme"),
        "{invitation}"
    );
    assert!(invitation.contains("/app/sign-in"), "{invitation}");
    let mut grace = sign_in(&app, "grace@acme.example").await;
    assert!(
        grace
            .get("/app/")
            .await
            .ok()
            .contains("grace@acme.example (viewer)")
    );
    // A second invitation of the same address is refused by name.
    owner.get("/app/members").await;
    let again = owner
        .post(
            "/app/members",
            &[("email", "grace@acme.example"), ("role", "editor")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);

    // Role changes reach the member's open session at once.
    let page = owner.get("/app/members").await;
    let grace_id = member_id(&page.body, "grace@acme.example");
    let own_id = member_id(&page.body, "own@acme.example");
    owner
        .post(
            &format!("/app/members/{grace_id}/role"),
            &[("role", "editor")],
        )
        .await
        .redirected_to("/app/members?done=saved");
    assert!(grace.get("/app/").await.ok().contains("(editor)"));

    // The only owner cannot step down or leave; with a second owner, they can.
    owner.get("/app/members").await;
    let alone = owner
        .post(
            &format!("/app/members/{own_id}/role"),
            &[("role", "viewer")],
        )
        .await;
    assert_eq!(alone.status, StatusCode::CONFLICT);
    assert!(alone.body.contains("at least one owner"), "{}", alone.body);
    let leaving = owner
        .post(
            &format!("/app/members/{own_id}/remove"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(leaving.status, StatusCode::CONFLICT);
    owner
        .post(
            &format!("/app/members/{grace_id}/role"),
            &[("role", "owner")],
        )
        .await
        .redirected_to("/app/members");
    owner
        .post(
            &format!("/app/members/{own_id}/role"),
            &[("role", "editor")],
        )
        .await
        .redirected_to("/app/members");
    // Removing a member ends their session.
    grace.get("/app/members").await;
    grace
        .post(
            &format!("/app/members/{own_id}/remove"),
            &[("confirm", "yes")],
        )
        .await
        .redirected_to("/app/members?done=deleted");
    owner.get("/app/").await.redirected_to("/app/sign-in");
    let members = grace.get("/app/members").await.text();
    assert!(!members.contains("own@acme.example"), "{members}");
}

/// Invitation mails in the outbox.
fn invitations(outbox: &std::path::Path) -> usize {
    std::fs::read_dir(outbox)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
        .filter(|mail| mail.contains("You are invited"))
        .count()
}

async fn inviting_and_removing_again_mails_one_address_at_most_five_times_an_hour(
    db: &TestDatabase,
) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let mut notices = Vec::new();
    for round in 0..12 {
        // Case and +tags reach the same mailbox, and count against it.
        let address = match round % 3 {
            0 => "grace@acme.example".to_owned(),
            1 => "Grace@Acme.example".to_owned(),
            _ => format!("grace+{round}@acme.example"),
        };
        owner.get("/app/members").await.ok();
        let invited = owner
            .post("/app/members", &[("email", &address), ("role", "viewer")])
            .await
            .redirected_to("/app/members?done=");
        notices.push(invited.trim_start_matches("/app/members?done=").to_owned());
        let page = owner.get("/app/members").await;
        let id = member_id(&page.body, &address.to_lowercase());
        owner
            .post(&format!("/app/members/{id}/remove"), &[("confirm", "yes")])
            .await
            .redirected_to("/app/members?done=deleted");
    }
    assert_eq!(
        invitations(&app.outbox),
        5,
        "the cap, not one mail per invitation: {notices:?}"
    );
    assert_eq!(notices[..5], ["invited"; 5], "{notices:?}");
    assert_eq!(notices[5..], ["invited-unmailed"; 7], "{notices:?}");

    // Held back, the invitation stands all the same, and the owner is told.
    owner.get("/app/members").await.ok();
    let held = owner
        .post(
            "/app/members",
            &[("email", "grace@acme.example"), ("role", "viewer")],
        )
        .await
        .redirected_to("/app/members?done=invited-unmailed");
    let page = owner.get(&held).await;
    assert!(
        page.ok().contains("No invitation mail went out"),
        "{}",
        page.body
    );
    member_id(&page.body, "grace@acme.example");
    assert_eq!(invitations(&app.outbox), 5);
}

/// The id in a member row's action URLs.
pub(super) fn member_id(page: &str, email: &str) -> String {
    let row = page
        .split("<tr>")
        .skip(1)
        .find(|row| row.contains(email))
        .unwrap_or_else(|| panic!("no row for {email}"));
    row.split("/app/members/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a member id")
        .to_owned()
}

/// Creates a key through the form: the post answers 303 and the page it leads to shows
/// the key (this once); the key.
pub async fn create_key(owner: &mut Browser, fields: &[(&str, &str)]) -> String {
    owner.get("/app/api-keys").await.ok();
    owner
        .post("/app/api-keys", fields)
        .await
        .redirected_to("/app/api-keys?done=created");
    let shown = owner.get("/app/api-keys?done=created").await;
    shown
        .ok()
        .split("<pre id=\"new-key\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("the new key on the page")
        .to_owned()
}

async fn an_owner_creates_a_key_that_is_shown_once_and_revokes_it(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    owner.get("/app/api-keys").await.ok();
    let key = create_key(&mut owner, &[("name", "deploys")]).await;
    let (status, servers) = app.app.get("/servers", &key).await;
    assert_eq!(status, StatusCode::OK, "the key works: {servers}");
    let listed = owner.get("/app/api-keys").await;
    assert!(!listed.body.contains(&key), "shown once only");
    assert!(listed.body.contains("deploys"));
    // The tenant's own key ("test") is listed too; revoke the one named deploys.
    let row = listed
        .body
        .split("<tr>")
        .find(|r| r.contains("deploys"))
        .unwrap();
    let id = row
        .split("/app/api-keys/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    owner
        .post(&format!("/app/api-keys/{id}/revoke"), &[("confirm", "yes")])
        .await
        .redirected_to("/app/api-keys?done=revoked");
    let (status, _) = app.app.get("/servers", &key).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a revoked key stops working"
    );
}

/// The page offers each scope, `read` and `write` ticked as a key made without a choice
/// gets them; the key gets the scopes ticked and no more, and the listing shows them.
async fn an_owner_chooses_a_new_keys_scopes(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut owner = member(&app, &app.tenant, "own@acme.example", Role::Owner).await;
    let page = owner.get("/app/api-keys").await.ok().to_owned();
    for (scope, ticked) in [("write", true), ("gateway", false), ("admin", false)] {
        let input = format!("name=\"scope_{scope}\" value=\"on\"");
        let at = page
            .find(&input)
            .unwrap_or_else(|| panic!("no box for {scope}: {page}"));
        let rest = &page[at..at + page[at..].find('>').unwrap()];
        assert_eq!(rest.contains("checked"), ticked, "{scope}: {rest}");
    }
    let key = create_key(&mut owner, &[("name", "deploys"), ("scope_gateway", "on")]).await;
    let (_, listed) = app.app.get("/api-keys", &app.tenant.key).await;
    let made = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "deploys")
        .unwrap();
    assert_eq!(
        made["scopes"],
        serde_json::json!(["read", "gateway"]),
        "{listed}"
    );
    let body = owner.get("/app/api-keys").await.ok().to_owned();
    let row = body.split("<tr>").find(|r| r.contains("deploys")).unwrap();
    assert!(row.contains("read,gateway"), "{row}");
    let (status, _) = app.app.get("/upstreams", &key).await;
    assert_eq!(status, StatusCode::OK, "it reads");
    let server = serde_json::json!({"name": "Docs", "slug": "from-gateway-key"});
    let (status, _) = app
        .app
        .api(reqwest::Method::POST, "/servers", &key, Some(server))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "write was not ticked");
}

backend_tests!(
    an_owner_invites_changes_roles_removes_and_keeps_an_owner,
    inviting_and_removing_again_mails_one_address_at_most_five_times_an_hour,
    an_owner_creates_a_key_that_is_shown_once_and_revokes_it,
    an_owner_chooses_a_new_keys_scopes,
);
