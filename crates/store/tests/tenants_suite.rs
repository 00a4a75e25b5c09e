//! Organizations' servers, on every backend: servers page newest first, slugs and
//! domains are unique, and a pending domain is promoted only as it was checked.
//! Organizations and their API keys are in `keys_suite.rs`.

mod common;

use std::collections::HashSet;

use guidepost_domain::*;
use guidepost_store::StoreError;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{
    all_pages, assert_conflict, assert_not_found, ids, json, new_org, new_server, open, settings,
};

async fn servers_create_get_update_delete(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let mut wanted = settings("acme-docs");
    wanted.custom_domain = Some("mcp.acme.com".into());
    wanted.auth_mode = AuthMode::CollectEmail;
    wanted.walkthrough_tools_enabled = false;
    wanted.product_name = Some("Acme Cloud".into());
    wanted.instructions = Some("Answer briefly.".into());
    wanted.allowed_origins = vec!["https://app.acme.com".into(), "null".into()];

    let created = store
        .create_server(&org, ServerKind::Standard, &wanted)
        .await
        .unwrap();
    assert_eq!(created.org_id, org);
    assert_eq!(created.kind, ServerKind::Standard);
    assert_eq!(created.name, "Server acme-docs");
    assert_eq!(created.slug.as_str(), "acme-docs");
    assert_eq!(created.custom_domain.as_deref(), Some("mcp.acme.com"));
    assert_eq!(created.auth_mode, AuthMode::CollectEmail);
    assert!(!created.walkthrough_tools_enabled && created.support_tool_enabled);
    assert_eq!(created.product_name.as_deref(), Some("Acme Cloud"));
    assert_eq!(created.instructions.as_deref(), Some("Answer briefly."));
    assert_eq!(created.allowed_origins, ["https://app.acme.com", "null"]);
    assert_eq!(created.updated_at, created.created_at);

    assert_eq!(
        json!(&store.get_server(&org, &created.id).await.unwrap()),
        json!(&created)
    );
    assert_eq!(
        json!(
            &store
                .find_server_by_slug("acme-docs")
                .await
                .unwrap()
                .unwrap()
        ),
        json!(&created)
    );
    assert_eq!(
        json!(
            &store
                .find_server_by_domain("mcp.acme.com")
                .await
                .unwrap()
                .unwrap()
        ),
        json!(&created)
    );
    assert!(store.find_server_by_slug("nobody").await.unwrap().is_none());
    assert!(
        store
            .find_server_by_domain("mcp.nobody.com")
            .await
            .unwrap()
            .is_none()
    );
    assert_not_found(
        store.get_server(&org, &ServerId::generate()).await,
        "unknown server",
    );
    assert_not_found(
        store
            .create_server(
                &OrgId::generate(),
                ServerKind::Standard,
                &settings("orphan"),
            )
            .await,
        "server for an unknown organization",
    );

    // Update replaces every settable field, keeps identity and creation time.
    let mut changed = settings("acme-help");
    changed.name = "Acme Help".into();
    changed.auth_mode = AuthMode::PlatformOauth;
    changed.support_tool_enabled = false;
    changed.allowed_origins = vec!["https://help.acme.com".into()];
    let updated = store
        .update_server(&org, &created.id, &changed, None)
        .await
        .unwrap();
    assert_eq!(
        (&updated.id, &updated.org_id, updated.kind),
        (&created.id, &org, ServerKind::Standard)
    );
    assert_eq!(
        (updated.name.as_str(), updated.slug.as_str()),
        ("Acme Help", "acme-help")
    );
    assert_eq!(updated.custom_domain, None);
    assert_eq!(updated.auth_mode, AuthMode::PlatformOauth);
    assert!(updated.walkthrough_tools_enabled && !updated.support_tool_enabled);
    assert_eq!(
        (
            updated.product_name.as_deref(),
            updated.instructions.as_deref()
        ),
        (None, None)
    );
    assert_eq!(updated.allowed_origins, ["https://help.acme.com"]);
    assert_eq!(updated.created_at, created.created_at);
    assert!(updated.updated_at >= created.updated_at);
    assert_eq!(
        json!(&store.get_server(&org, &created.id).await.unwrap()),
        json!(&updated)
    );
    assert!(
        store
            .find_server_by_slug("acme-docs")
            .await
            .unwrap()
            .is_none(),
        "old slug is free"
    );
    assert!(
        store
            .find_server_by_domain("mcp.acme.com")
            .await
            .unwrap()
            .is_none(),
        "old domain is free"
    );
    assert_eq!(
        store
            .find_server_by_slug("acme-help")
            .await
            .unwrap()
            .unwrap()
            .id,
        created.id
    );
    assert_not_found(
        store
            .update_server(&org, &ServerId::generate(), &changed, None)
            .await,
        "update unknown server",
    );

    // Over a revision: only the one stored lets the write through; any other is `Changed`,
    // and a server that is gone stays not found.
    let stale = Some(created.updated_at);
    let refused = store
        .update_server(&org, &created.id, &changed, stale)
        .await;
    assert!(matches!(refused, Err(StoreError::Changed)), "{refused:?}");
    let current = Some(updated.updated_at);
    let again = store
        .update_server(&org, &created.id, &changed, current)
        .await
        .unwrap();
    assert!(
        again.updated_at > updated.updated_at,
        "the revision moves on"
    );
    assert_not_found(
        store
            .update_server(&org, &ServerId::generate(), &changed, current)
            .await,
        "update unknown server over a revision",
    );

    // The conformance fixture kind round-trips.
    let fixture = store
        .create_server(&org, ServerKind::ConformanceFixture, &settings("fixture"))
        .await
        .unwrap();
    assert_eq!(
        store.get_server(&org, &fixture.id).await.unwrap().kind,
        ServerKind::ConformanceFixture
    );

    // Delete: gone everywhere, and its slug can be taken again.
    store.delete_server(&org, &created.id).await.unwrap();
    assert_not_found(store.get_server(&org, &created.id).await, "deleted server");
    assert_not_found(
        store.delete_server(&org, &created.id).await,
        "deleting twice",
    );
    assert!(
        store
            .find_server_by_slug("acme-help")
            .await
            .unwrap()
            .is_none()
    );
    let left = store
        .list_servers(&org, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids(&left.items, |s| &s.id), [fixture.id.to_string()]);
    new_server(&store, &org, "acme-help").await;
}

async fn servers_list_in_pages_newest_first(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let beta = new_org(&store, "Beta").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(new_server(&store, &acme, &format!("acme-{i}")).await);
    }
    let beta_servers = [
        new_server(&store, &beta, "beta-0").await,
        new_server(&store, &beta, "beta-1").await,
    ];
    // Newest first, ties broken by id: the order the store promises.
    created.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));
    let expected = ids(&created, |s| &s.id);

    let pages = all_pages(3, async |page| {
        store.list_servers(&acme, &page).await.unwrap()
    })
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    let listed = ids(&pages.concat(), |s| &s.id);
    assert_eq!(
        listed, expected,
        "three pages, newest first, no duplicates or gaps"
    );

    // A page that ends exactly at the last row has no next cursor; one short of it has.
    let whole = store
        .list_servers(
            &acme,
            &PageRequest {
                after: None,
                limit: 7,
            },
        )
        .await
        .unwrap();
    assert_eq!((whole.items.len(), whole.next_cursor), (7, None));
    let pages = all_pages(6, async |page| {
        store.list_servers(&acme, &page).await.unwrap()
    })
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [6, 1]);

    // Keyset paging is stable: a server created between pages does not shift the rest.
    let first = store
        .list_servers(
            &acme,
            &PageRequest {
                after: None,
                limit: 3,
            },
        )
        .await
        .unwrap();
    new_server(&store, &acme, "acme-late").await;
    let cursor = Cursor::decode(first.next_cursor.as_deref().unwrap()).unwrap();
    let rest = store
        .list_servers(
            &acme,
            &PageRequest {
                after: Some(cursor),
                limit: 50,
            },
        )
        .await
        .unwrap();
    let mut resumed = ids(&first.items, |s| &s.id);
    resumed.extend(ids(&rest.items, |s| &s.id));
    assert_eq!(resumed, expected);

    // Only the organization's own servers.
    let beta_listed = store
        .list_servers(&beta, &PageRequest::default())
        .await
        .unwrap();
    let beta_ids: HashSet<_> = ids(&beta_listed.items, |s| &s.id).into_iter().collect();
    assert_eq!(
        beta_ids,
        ids(&beta_servers, |s| &s.id).into_iter().collect()
    );
}

async fn duplicate_slug_or_domain_is_a_conflict(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let beta = new_org(&store, "Beta").await;
    let mut first = settings("shared");
    first.custom_domain = Some("docs.example.com".into());
    let taken = store
        .create_server(&acme, ServerKind::Standard, &first)
        .await
        .unwrap();

    // Slugs and domains are unique platform-wide, across organizations.
    let same_slug = store
        .create_server(&beta, ServerKind::Standard, &settings("shared"))
        .await;
    assert_conflict(same_slug, "slug");
    let mut same_domain = settings("other");
    same_domain.custom_domain = Some("docs.example.com".into());
    let result = store
        .create_server(&beta, ServerKind::Standard, &same_domain)
        .await;
    assert_conflict(result, "custom_domain");
    assert!(
        store
            .list_servers(&beta, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // Servers without a custom domain do not collide with one another.
    new_server(&store, &acme, "plain-one").await;
    new_server(&store, &acme, "plain-two").await;

    // Updates obey the same rules and change nothing when refused.
    let own = new_server(&store, &beta, "beta-own").await;
    assert_conflict(
        store
            .update_server(&beta, &own.id, &settings("shared"), None)
            .await,
        "slug",
    );
    let mut steal_domain = settings("beta-own");
    steal_domain.custom_domain = Some("docs.example.com".into());
    assert_conflict(
        store
            .update_server(&beta, &own.id, &steal_domain, None)
            .await,
        "custom_domain",
    );
    assert_eq!(
        json!(&store.get_server(&beta, &own.id).await.unwrap()),
        json!(&own)
    );
    assert_eq!(
        store
            .find_server_by_slug("shared")
            .await
            .unwrap()
            .unwrap()
            .id,
        taken.id
    );
    // Keeping one's own slug and domain is no conflict.
    store
        .update_server(&acme, &taken.id, &first, None)
        .await
        .unwrap();
}

async fn a_pending_domain_is_promoted_only_as_it_was_checked(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let beta = new_org(&store, "Beta").await;
    let pending = |token: &str| PendingDomain {
        domain: "mcp.acme.example".into(),
        token: token.into(),
    };
    // Both ask for the domain: pending claims do not collide.
    let mut asking = settings("acme");
    asking.pending_domain = Some(pending("acme-token"));
    let ours = store
        .create_server(&acme, ServerKind::Standard, &asking)
        .await
        .unwrap();
    assert_eq!(ours.pending_domain, Some(pending("acme-token")));
    assert_eq!(ours.custom_domain, None);
    let mut theirs = settings("beta");
    theirs.pending_domain = Some(pending("beta-token"));
    let theirs = store
        .create_server(&beta, ServerKind::Standard, &theirs)
        .await
        .unwrap();
    assert!(
        store
            .find_server_by_domain("mcp.acme.example")
            .await
            .unwrap()
            .is_none()
    );

    // A stale challenge, or another organization, promotes nothing.
    let stale = store
        .verify_pending_domain(&acme, &ours.id, &pending("old"))
        .await;
    assert_not_found(stale, "a stale challenge");
    let foreign = store
        .verify_pending_domain(&beta, &ours.id, &pending("acme-token"))
        .await;
    assert_not_found(foreign, "another organization's server");
    let verified = store
        .verify_pending_domain(&acme, &ours.id, &pending("acme-token"))
        .await
        .unwrap();
    assert_eq!(
        (verified.custom_domain.as_deref(), verified.pending_domain),
        (Some("mcp.acme.example"), None)
    );
    let routed = store
        .find_server_by_domain("mcp.acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(routed.id, ours.id);
    // Verified first wins: the other claim can never be promoted.
    assert_conflict(
        store
            .verify_pending_domain(&beta, &theirs.id, &pending("beta-token"))
            .await,
        "custom_domain",
    );
}

backend_tests!(
    a_pending_domain_is_promoted_only_as_it_was_checked,
    servers_create_get_update_delete,
    servers_list_in_pages_newest_first,
    duplicate_slug_or_domain_is_a_conflict,
);
