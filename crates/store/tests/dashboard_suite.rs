//! What the dashboard stores and reads, on every backend: members scoped to their
//! organization, one pending sign-in code per email used once, sessions found only by
//! their hash and only while they last, calls counted per time bucket, and the gateway's
//! organization-wide lists.

#[allow(unused_imports, unused_macros)]
mod common;

use guidepost_domain::*;
use guidepost_store::ROLLUP_MICROS;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{
    T0, assert_conflict, assert_not_found, email, new_org, new_server, new_support_request, open,
    secs, tool_call,
};

async fn members_belong_to_one_organization_and_sign_in_codes_work_once(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let ada = email("ada@acme.example");
    let owner = store.create_member(&acme, &ada, Role::Owner).await.unwrap();
    assert_conflict(
        store.create_member(&acme, &ada, Role::Viewer).await,
        "email",
    );
    let elsewhere = store
        .create_member(&globex, &ada, Role::Viewer)
        .await
        .unwrap();

    assert_not_found(
        store.get_member(&globex, &owner.id).await,
        "another organization's member",
    );
    assert_not_found(
        store
            .set_member_role(&globex, &owner.id, Role::Viewer)
            .await,
        "another organization's member",
    );
    assert_not_found(
        store.delete_member(&globex, &owner.id).await,
        "another organization's member",
    );
    // The last owner stays: neither demoted nor removed; with a second owner, either may go.
    assert_conflict(
        store.set_member_role(&acme, &owner.id, Role::Editor).await,
        "owner",
    );
    assert_conflict(store.delete_member(&acme, &owner.id).await, "owner");
    let bob = email("bob@acme.example");
    let second = store.create_member(&acme, &bob, Role::Owner).await.unwrap();
    store
        .set_member_role(&acme, &owner.id, Role::Editor)
        .await
        .unwrap();
    assert_conflict(store.delete_member(&acme, &second.id).await, "owner");
    store
        .set_member_role(&acme, &owner.id, Role::Owner)
        .await
        .unwrap();
    store.delete_member(&acme, &second.id).await.unwrap();
    assert_eq!(
        store.get_member(&acme, &owner.id).await.unwrap().role,
        Role::Owner
    );
    let memberships = store.memberships_of_email(&ada).await.unwrap();
    let names: Vec<&str> = memberships.iter().map(|m| m.org_name.as_str()).collect();
    assert_eq!(
        names,
        ["Acme", "Globex"],
        "oldest first, with the organization's name"
    );
    assert_eq!(memberships[1].member, elsewhere);

    // One pending code per email; a new one replaces it; the right hash takes it once.
    let code = |hash: &str, at: i64| MemberSignInCode {
        email: ada.clone(),
        code_hash: hash.into(),
        failed_attempts: 0,
        created_at: secs(at),
        expires_at: secs(at + 600),
        sends: 2,
        first_sent_at: secs(0),
    };
    assert!(
        store
            .put_sign_in_code(&code("first", 1), None)
            .await
            .unwrap()
    );
    let claimed = store
        .claim_sign_in_guess(&ada, 2, secs(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (claimed.code_hash.as_str(), claimed.failed_attempts),
        ("first", 1)
    );
    assert!(
        store
            .claim_sign_in_guess(&ada, 2, secs(5))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store.claim_sign_in_guess(&ada, 2, secs(5)).await.unwrap(),
        None,
        "out of guesses"
    );
    // Only over the code that was read: a send that read none, or an older one, is
    // held back (another send went first).
    assert!(
        !store
            .put_sign_in_code(&code("stale", 2), None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .put_sign_in_code(&code("stale", 2), Some(secs(0)))
            .await
            .unwrap()
    );
    assert!(
        store
            .put_sign_in_code(&code("second", 2), Some(secs(1)))
            .await
            .unwrap()
    );
    assert_eq!(
        store.claim_sign_in_guess(&ada, 2, secs(602)).await.unwrap(),
        None,
        "expired"
    );
    let pending = store.get_sign_in_code(&ada).await.unwrap().unwrap();
    assert_eq!(
        (pending.code_hash.as_str(), pending.failed_attempts),
        ("second", 0)
    );
    assert_eq!((pending.sends, pending.first_sent_at), (2, secs(0)));
    assert!(
        !store.take_sign_in_code(&ada, "first").await.unwrap(),
        "a replaced code"
    );
    assert!(store.take_sign_in_code(&ada, "second").await.unwrap());
    assert!(
        !store.take_sign_in_code(&ada, "second").await.unwrap(),
        "used once"
    );
    assert_eq!(store.get_sign_in_code(&ada).await.unwrap(), None);
}

async fn sessions_are_found_by_hash_until_they_end_and_follow_their_member(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let ada = email("ada@acme.example");
    let member = store
        .create_member(&acme, &ada, Role::Editor)
        .await
        .unwrap();
    let there = store
        .create_member(&globex, &ada, Role::Viewer)
        .await
        .unwrap();
    let session = DashboardSession {
        token_hash: hash_secret("gpd_token"),
        member_id: member.id.clone(),
        org_id: acme.clone(),
        created_at: secs(10),
        last_seen_at: secs(10),
        expires_at: secs(100),
    };
    store.create_dashboard_session(&session).await.unwrap();
    let (found, who) = store
        .find_dashboard_session(&session.token_hash, secs(50))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, session);
    assert_eq!(
        who.last_sign_in_at,
        Some(secs(10)),
        "signing in is remembered"
    );
    assert_eq!(
        store
            .find_dashboard_session("gpd_token", secs(50))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_dashboard_session(&session.token_hash, secs(100))
            .await
            .unwrap(),
        None
    );

    store
        .touch_dashboard_session(&session.token_hash, secs(60))
        .await
        .unwrap();
    store
        .switch_dashboard_session(&session.token_hash, &there)
        .await
        .unwrap();
    let (found, who) = store
        .find_dashboard_session(&session.token_hash, secs(61))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.last_seen_at, found.org_id.clone(), who.role),
        (secs(60), globex.clone(), Role::Viewer)
    );

    // Removing the member ends their sessions; the sweep forgets ended ones.
    store.delete_member(&globex, &there.id).await.unwrap();
    assert_eq!(
        store
            .find_dashboard_session(&session.token_hash, secs(62))
            .await
            .unwrap(),
        None
    );
    let other = DashboardSession {
        token_hash: hash_secret("gpd_other"),
        ..session.clone()
    };
    store.create_dashboard_session(&other).await.unwrap();
    assert_eq!(
        store
            .delete_expired_dashboard_state(secs(99))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_expired_dashboard_state(secs(100))
            .await
            .unwrap(),
        1
    );
}

async fn a_secret_shown_once_is_taken_once_by_its_session_until_it_expires(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let member = store
        .create_member(&acme, &email("ada@acme.example"), Role::Owner)
        .await
        .unwrap();
    let session = DashboardSession {
        token_hash: hash_secret("gpd_token"),
        member_id: member.id.clone(),
        org_id: acme.clone(),
        created_at: secs(10),
        last_seen_at: secs(10),
        expires_at: secs(10_000),
    };
    store.create_dashboard_session(&session).await.unwrap();
    let hash = session.token_hash.as_str();
    store
        .keep_shown_once(&acme, hash, "sealed-1", secs(600))
        .await
        .unwrap();
    // Kept again before it was shown: the newer one waits.
    store
        .keep_shown_once(&acme, hash, "sealed-2", secs(610))
        .await
        .unwrap();
    assert_eq!(
        store
            .take_shown_once(&globex, hash, secs(20))
            .await
            .unwrap(),
        None,
        "not another organization's"
    );
    assert_eq!(
        store
            .take_shown_once(&acme, "other", secs(20))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.take_shown_once(&acme, hash, secs(20)).await.unwrap(),
        Some("sealed-2".to_owned())
    );
    assert_eq!(
        store.take_shown_once(&acme, hash, secs(21)).await.unwrap(),
        None,
        "taken once"
    );
    // Expired: not shown, and the sweep forgets it.
    store
        .keep_shown_once(&acme, hash, "sealed-3", secs(600))
        .await
        .unwrap();
    assert_eq!(
        store.take_shown_once(&acme, hash, secs(600)).await.unwrap(),
        None
    );
    store
        .keep_shown_once(&acme, hash, "sealed-4", secs(600))
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_expired_dashboard_state(secs(600))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.take_shown_once(&acme, hash, secs(30)).await.unwrap(),
        None
    );
    // It goes with its session.
    store
        .keep_shown_once(&acme, hash, "sealed-5", secs(600))
        .await
        .unwrap();
    store.delete_dashboard_session(hash).await.unwrap();
    assert_eq!(
        store.take_shown_once(&acme, hash, secs(30)).await.unwrap(),
        None
    );
}

async fn invitation_mails_are_counted_per_organization_and_mailbox_until_they_lapse(
    db: &TestDatabase,
) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let send = |org: &OrgId, at: i64| {
        let store = store.clone();
        let org = org.clone();
        async move {
            store
                .record_invitation_send(&org, "grace@acme.example", secs(at), secs(at + 100), 2)
                .await
                .unwrap()
        }
    };
    assert!(send(&acme, 0).await);
    assert!(send(&acme, 10).await);
    assert!(!send(&acme, 20).await, "the cap");
    assert!(
        send(&globex, 20).await,
        "another organization counts its own"
    );
    assert!(!send(&acme, 99).await, "the first still counts");
    assert!(send(&acme, 100).await, "the first lapsed");
    // The sweep forgets what no longer counts: acme's first two, globex's one.
    assert_eq!(
        store
            .delete_expired_dashboard_state(secs(120))
            .await
            .unwrap(),
        3
    );
}

async fn calls_are_counted_per_bucket_for_their_organization_and_server(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let docs = new_server(&store, &acme, "acme-docs").await;
    let help = new_server(&store, &acme, "acme-help").await;
    let theirs = new_server(&store, &globex, "globex").await;
    // Rollups are hourly: buckets are whole hours from a whole hour.
    let hour = Timestamp::from_micros(T0.div_euclid(ROLLUP_MICROS) * ROLLUP_MICROS);
    let mut calls = Vec::new();
    for (server, at, error) in [
        (&docs, 0, false),
        (&docs, 3_599, true),
        (&docs, 3_600, false),
        (&help, 7_800, false),
    ] {
        let mut call = tool_call(
            &acme,
            &server.id,
            "list_walkthroughs",
            hour.plus_seconds(at),
        );
        call.is_error = error;
        calls.push(call);
    }
    calls.push(tool_call(
        &globex,
        &theirs.id,
        "list_walkthroughs",
        hour.plus_seconds(1),
    ));
    calls.push(tool_call(
        &acme,
        &docs.id,
        "list_walkthroughs",
        hour.plus_seconds(10_800),
    ));
    store.insert_tool_calls(&calls).await.unwrap();

    let buckets = |server: Option<ServerId>| {
        let store = store.clone();
        let acme = acme.clone();
        async move {
            let mut found = store
                .tool_call_buckets(
                    &acme,
                    server.as_ref(),
                    hour,
                    hour.plus_seconds(10_800),
                    3_600,
                )
                .await
                .unwrap();
            found.sort_by_key(|b| b.index);
            found
                .iter()
                .map(|b| (b.index, b.calls, b.errors))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        buckets(None).await,
        [(0, 2, 1), (1, 1, 0), (2, 1, 0)],
        "until is excluded"
    );
    assert_eq!(buckets(Some(docs.id.clone())).await, [(0, 2, 1), (1, 1, 0)]);
}

/// The overview's counts are one statement, and count only the organization's own.
async fn the_overviews_counts_are_one_statement_of_the_organizations_own(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let docs = new_server(&store, &acme, "docs").await;
    let other = new_server(&store, &globex, "other").await;
    for (org, server) in [(&acme, &docs), (&acme, &docs), (&globex, &other)] {
        let request = new_support_request(org, &server.id, None, "Help");
        store
            .create_support_request(&request, secs(1))
            .await
            .unwrap();
    }
    let before = store.statements_executed();
    let counts = store.attention(&acme, secs(0)).await.unwrap();
    assert_eq!(store.statements_executed() - before, 1);
    assert_eq!(counts.open_support_requests, 2, "{counts:?}");
    assert_eq!(counts.tools_awaiting_review + counts.upstreams_failing, 0);
}

/// Messages are written and read only on the organization's own request, oldest first.
async fn support_messages_stay_on_their_organizations_request(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let docs = new_server(&store, &acme, "docs").await;
    let request = new_support_request(&acme, &docs.id, None, "Help");
    let request = store
        .create_support_request(&request, secs(1))
        .await
        .unwrap();
    let message = |kind, body| guidepost_store::NewSupportMessage {
        request: &request.id,
        kind,
        author: "ed@acme.example",
        body,
    };
    let reply = message(SupportMessageKind::Reply, "Try again.");
    let note = message(SupportMessageKind::Note, "Internal.");
    store
        .add_support_message(&acme, &reply, secs(2))
        .await
        .unwrap();
    store
        .add_support_message(&acme, &note, secs(3))
        .await
        .unwrap();
    assert_not_found(
        store.add_support_message(&globex, &reply, secs(4)).await,
        "another organization's request",
    );
    let all = [SupportMessageKind::Reply, SupportMessageKind::Note];
    let listed = store
        .list_support_messages(&acme, &request.id, &all)
        .await
        .unwrap();
    let bodies: Vec<&str> = listed.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["Try again.", "Internal."]);
    let replies = [SupportMessageKind::Reply];
    let only = store
        .list_support_messages(&acme, &request.id, &replies)
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    let theirs = store
        .list_support_messages(&globex, &request.id, &all)
        .await
        .unwrap();
    assert!(theirs.is_empty());
}

/// A server's switched-off tools: written only over the list that was read
/// (compare-and-set), kept with the server, and never across organizations.
async fn disabled_tools_are_written_over_the_list_read_only(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let beta = new_org(&store, "Beta").await;
    let server = new_server(&store, &acme, "acme").await;
    assert!(server.disabled_tools.is_empty(), "none off at first");

    let off = vec!["fx__echo".to_owned(), "get_support".to_owned()];
    let written = store
        .replace_disabled_tools(&acme, &server.id, &[], &off)
        .await
        .unwrap()
        .expect("written over the empty list");
    assert_eq!(written.disabled_tools, off);
    let read = store.get_server(&acme, &server.id).await.unwrap();
    assert_eq!(read.disabled_tools, off, "kept with the server");

    // A switch that read the list before this write does not undo it.
    let stale = store
        .replace_disabled_tools(&acme, &server.id, &[], &["other".to_owned()])
        .await
        .unwrap();
    assert!(stale.is_none(), "the list changed since it was read");
    // Another organization cannot write it, whatever it read.
    let theirs = store
        .replace_disabled_tools(&beta, &server.id, &off, &[])
        .await
        .unwrap();
    assert!(theirs.is_none());
    let read = store.get_server(&acme, &server.id).await.unwrap();
    assert_eq!(read.disabled_tools, off);
}

backend_tests!(
    disabled_tools_are_written_over_the_list_read_only,
    the_overviews_counts_are_one_statement_of_the_organizations_own,
    support_messages_stay_on_their_organizations_request,
    members_belong_to_one_organization_and_sign_in_codes_work_once,
    sessions_are_found_by_hash_until_they_end_and_follow_their_member,
    invitation_mails_are_counted_per_organization_and_mailbox_until_they_lapse,
    calls_are_counted_per_bucket_for_their_organization_and_server,
    a_secret_shown_once_is_taken_once_by_its_session_until_it_expires,
);
