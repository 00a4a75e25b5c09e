//! End users and MCP sessions, on every backend: one end user per tracking id, verified
//! emails stay verified, and sessions persist, are touched and expire.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use guidepost_domain::*;
use guidepost_store::EndUserFilter;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{
    all_pages, assert_not_found, email, ids, json, new_org, new_server, new_session, open, secs,
};

async fn end_users_by_tracking_id(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let first = store
        .end_user_for_tracking_id(&org, "visitor-1", secs(0))
        .await
        .unwrap();
    assert_eq!(
        (first.org_id.clone(), first.tracking_id.as_deref()),
        (org.clone(), Some("visitor-1"))
    );
    assert_eq!((first.email.clone(), first.email_verified), (None, false));
    assert_eq!(
        (first.first_seen_at, first.last_seen_at),
        (secs(0), secs(0))
    );

    // Idempotent: the same person, seen later.
    let again = store
        .end_user_for_tracking_id(&org, "visitor-1", secs(5))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        (again.first_seen_at, again.last_seen_at),
        (secs(0), secs(5))
    );
    assert_eq!(
        store
            .get_end_user(&org, &first.id)
            .await
            .unwrap()
            .last_seen_at,
        secs(5)
    );
    // A late, out-of-order request does not move last_seen_at back.
    let late = store
        .end_user_for_tracking_id(&org, "visitor-1", secs(2))
        .await
        .unwrap();
    assert_eq!(
        (late.id.clone(), late.last_seen_at),
        (first.id.clone(), secs(5))
    );

    // Other tracking ids are other people; anonymous users never collide.
    let second = store
        .end_user_for_tracking_id(&org, "visitor-2", secs(1))
        .await
        .unwrap();
    assert_ne!(second.id, first.id);
    let anon_a = store
        .create_anonymous_end_user(&org, secs(3))
        .await
        .unwrap();
    let anon_b = store
        .create_anonymous_end_user(&org, secs(3))
        .await
        .unwrap();
    assert_ne!(anon_a.id, anon_b.id);
    assert_eq!(
        (anon_a.tracking_id.clone(), anon_a.first_seen_at),
        (None, secs(3))
    );
    assert_eq!(
        json!(&store.get_end_user(&org, &anon_a.id).await.unwrap()),
        json!(&anon_a)
    );
    assert_not_found(
        store.get_end_user(&org, &EndUserId::generate()).await,
        "unknown end user",
    );

    let page = PageRequest::default();
    let by_tracking = EndUserFilter {
        email: None,
        tracking_id: Some("visitor-1".into()),
    };
    let found = store
        .list_end_users(&org, &by_tracking, &page)
        .await
        .unwrap()
        .items;
    assert_eq!(ids(&found, |u| &u.end_user.id), [first.id.to_string()]);
    let everyone = all_pages(2, async |p| {
        store
            .list_end_users(&org, &EndUserFilter::default(), &p)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(everyone.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
    let everyone = everyone.concat();
    assert!(
        everyone
            .windows(2)
            .all(|w| w[0].end_user.first_seen_at >= w[1].end_user.first_seen_at),
        "newest first"
    );
    let listed: HashSet<_> = ids(&everyone, |u| &u.end_user.id).into_iter().collect();
    let expected: HashSet<_> = [&first.id, &second.id, &anon_a.id, &anon_b.id]
        .iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(listed, expected);
}

async fn concurrent_first_sight_makes_one_end_user(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = Arc::clone(&store);
            let org = org.clone();
            tokio::spawn(async move { store.end_user_for_tracking_id(&org, "rush", secs(i)).await })
        })
        .collect();
    let users: Vec<EndUser> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|joined| {
            joined
                .expect("task ran")
                .expect("every concurrent call succeeds")
        })
        .collect();
    let distinct: HashSet<_> = users.iter().map(|u| u.id.clone()).collect();
    assert_eq!(
        distinct.len(),
        1,
        "20 concurrent first sights made {} end users",
        distinct.len()
    );
    let filter = EndUserFilter {
        email: None,
        tracking_id: Some("rush".into()),
    };
    let stored = store
        .list_end_users(&org, &filter, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].end_user.last_seen_at,
        secs(19),
        "the latest sighting wins, whatever the arrival order"
    );
}

async fn verified_email_is_never_downgraded(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let user = store
        .create_anonymous_end_user(&org, secs(0))
        .await
        .unwrap();
    let set = async |address: &str, verified: bool| {
        store
            .set_end_user_email(&org, &user.id, &email(address), verified)
            .await
            .unwrap()
    };

    let u = set("first@example.com", false).await;
    assert_eq!(
        (u.email, u.email_verified),
        (Some(email("first@example.com")), false)
    );
    // An unverified email replaces an unverified one.
    let u = set("second@example.com", false).await;
    assert_eq!(
        (u.email, u.email_verified),
        (Some(email("second@example.com")), false)
    );
    let u = set("proven@example.com", true).await;
    assert_eq!(
        (u.email, u.email_verified),
        (Some(email("proven@example.com")), true)
    );
    // An unverified claim does not touch a verified email.
    let u = set("mallory@example.com", false).await;
    assert_eq!(
        (u.email, u.email_verified),
        (Some(email("proven@example.com")), true)
    );
    let stored = store.get_end_user(&org, &user.id).await.unwrap();
    assert_eq!(
        (stored.email, stored.email_verified),
        (Some(email("proven@example.com")), true)
    );
    // A newly verified email does replace it.
    let u = set("moved@example.com", true).await;
    assert_eq!(
        (u.email, u.email_verified),
        (Some(email("moved@example.com")), true)
    );

    let by_email = EndUserFilter {
        email: Some("moved@example.com".into()),
        tracking_id: None,
    };
    let found = store
        .list_end_users(&org, &by_email, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(ids(&found, |u| &u.end_user.id), [user.id.to_string()]);
    assert_not_found(
        store
            .set_end_user_email(&org, &EndUserId::generate(), &email("x@example.com"), true)
            .await,
        "unknown end user",
    );
}

async fn sessions_persist_touch_and_expire(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let server = new_server(&store, &org, "acme-srv").await;
    let user = store
        .end_user_for_tracking_id(&org, "visitor", secs(0))
        .await
        .unwrap();

    let wanted = new_session("t-main", &org, &server.id, None);
    let created = store.create_session(&wanted, secs(0)).await.unwrap();
    assert_eq!(
        (
            created.transport_id.as_str(),
            &created.org_id,
            &created.server_id
        ),
        ("t-main", &org, &server.id)
    );
    assert_eq!(created.end_user_id, None);
    assert_eq!(created.client_name.as_deref(), Some("claude-code"));
    assert_eq!(created.client_version.as_deref(), Some("2.1.0"));
    assert_eq!(created.protocol_version.as_deref(), Some("2025-11-25"));
    assert_eq!(
        (created.first_seen_at, created.last_seen_at),
        (secs(0), secs(0))
    );
    assert_eq!(
        json!(&store.find_session("t-main").await.unwrap().unwrap()),
        json!(&created)
    );
    assert_eq!(
        store.session_transport_state("t-main").await.unwrap(),
        Some(wanted.transport_state.clone())
    );
    assert!(store.find_session("t-unknown").await.unwrap().is_none());
    assert!(
        store
            .session_transport_state("t-unknown")
            .await
            .unwrap()
            .is_none()
    );

    // Touching moves last_seen_at forward only.
    store.touch_session("t-main", secs(10)).await.unwrap();
    store.touch_session("t-main", secs(4)).await.unwrap();
    store.touch_session("t-unknown", secs(10)).await.unwrap();
    let touched = store.find_session("t-main").await.unwrap().unwrap();
    assert_eq!(
        (touched.first_seen_at, touched.last_seen_at),
        (secs(0), secs(10))
    );

    // Persisting the same handshake again (another node) keeps the first record.
    let mut replay = new_session("t-main", &org, &server.id, None);
    replay.client_name = Some("other".into());
    replay.transport_state = "{}".into();
    let replayed = store.create_session(&replay, secs(20)).await.unwrap();
    assert_eq!(
        (replayed.id.clone(), replayed.client_name.as_deref()),
        (created.id.clone(), Some("claude-code"))
    );
    assert_eq!(replayed.last_seen_at, secs(20));
    assert_eq!(
        store.session_transport_state("t-main").await.unwrap(),
        Some(wanted.transport_state.clone())
    );

    // Attaching an end user.
    store
        .set_session_end_user(&org, "t-main", &user.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_session("t-main")
            .await
            .unwrap()
            .unwrap()
            .end_user_id,
        Some(user.id.clone())
    );
    let of_user = store
        .list_sessions_of_end_user(&org, &user.id)
        .await
        .unwrap();
    assert_eq!(ids(&of_user, |s| &s.id), [created.id.to_string()]);

    // Idle sessions go; the cutoff is exclusive.
    store
        .create_session(
            &new_session("t-old", &org, &server.id, Some(&user.id)),
            secs(0),
        )
        .await
        .unwrap();
    store
        .create_session(&new_session("t-new", &org, &server.id, None), secs(0))
        .await
        .unwrap();
    store.touch_session("t-new", secs(100)).await.unwrap();
    assert_eq!(
        store.delete_idle_sessions(secs(20)).await.unwrap(),
        1,
        "only t-old was idle before the cutoff"
    );
    assert!(store.find_session("t-old").await.unwrap().is_none());
    assert!(
        store.find_session("t-main").await.unwrap().is_some(),
        "last seen exactly at the cutoff"
    );
    assert!(store.find_session("t-new").await.unwrap().is_some());
    assert_eq!(store.delete_idle_sessions(secs(20)).await.unwrap(), 0);

    let opened = store.delete_session("t-new").await.unwrap();
    assert!(opened.is_some(), "the deleted session's opening time");
    assert!(store.find_session("t-new").await.unwrap().is_none());
    assert_eq!(
        store.delete_session("t-new").await.unwrap(),
        None,
        "none twice"
    );

    // Sessions go with their server.
    store.delete_server(&org, &server.id).await.unwrap();
    assert!(store.find_session("t-main").await.unwrap().is_none());
}

/// A search by email or tracking id reads its index, never every person of the
/// organization by time (the listing's plan on either backend), and finds its person
/// among many.
async fn a_search_by_email_or_tracking_id_reads_its_index(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "acme").await;
    let mut wanted = None;
    for i in 0..200 {
        let person = store
            .end_user_for_tracking_id(&org, &format!("visitor-{i}"), secs(i))
            .await
            .unwrap();
        let address = email(&format!("person{i}@example.com"));
        store
            .set_end_user_email(&org, &person.id, &address, i % 2 == 0)
            .await
            .unwrap();
        if i == 17 {
            wanted = Some(person);
        }
    }
    let wanted = wanted.unwrap();
    let page = PageRequest::first(10);
    let by_email = EndUserFilter {
        email: Some("person17@example.com".into()),
        ..Default::default()
    };
    let by_tracking_id = EndUserFilter {
        tracking_id: Some("visitor-17".into()),
        ..Default::default()
    };
    for filter in [&by_email, &by_tracking_id] {
        let plan = store
            .explain_end_user_listing(&org, filter, &page)
            .await
            .unwrap()
            .join("\n");
        let person_lines: Vec<&str> = plan
            .lines()
            .map(|line| line.trim().trim_start_matches("->").trim())
            .filter(|line| line.contains("end_users") && !line.contains("end_users.id"))
            .collect();
        assert!(!person_lines.is_empty(), "{filter:?}:\n{plan}");
        for line in person_lines {
            assert!(
                !line.starts_with("SCAN end_users") && !line.starts_with("Seq Scan on end_users"),
                "{filter:?} reads every person:\n{plan}"
            );
            assert!(
                !line.contains("end_users_org "),
                "{filter:?} walks the organization's people by time:\n{plan}"
            );
        }
        let found = store
            .list_end_users(&org, filter, &page)
            .await
            .unwrap()
            .items;
        assert_eq!(ids(&found, |u| &u.end_user.id), [wanted.id.to_string()]);
    }
    // Both filters at once, and a page after the first, still find and page.
    let both = EndUserFilter {
        email: Some("person17@example.com".into()),
        tracking_id: Some("visitor-18".into()),
    };
    assert!(
        store
            .list_end_users(&org, &both, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let everyone = all_pages(64, async |p| {
        store
            .list_end_users(&org, &EndUserFilter::default(), &p)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(everyone.concat().len(), 200);
}

backend_tests!(
    end_users_by_tracking_id,
    a_search_by_email_or_tracking_id_reads_its_index,
    concurrent_first_sight_makes_one_end_user,
    verified_email_is_never_downgraded,
    sessions_persist_touch_and_expire,
);
