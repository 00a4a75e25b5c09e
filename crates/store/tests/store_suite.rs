//! The store test suite (SPEC §9): one suite, run against SQLite and — when
//! `GUIDEPOST_TEST_POSTGRES_URL` is set — PostgreSQL, each test in its own fresh database.
//! It checks behaviour through the `Store` trait only.

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::Arc;

use guidepost_domain::*;
use guidepost_store::{EndUserFilter, Store, StoreError, SupportRequestFilter, ToolCallFilter};
use guidepost_testkit::{TestDatabase, backend_tests};

// --- helpers -----------------------------------------------------------------------

/// A fixed point in time, so that tests control every caller-supplied timestamp.
const T0: i64 = 1_750_000_000_000_000;

fn at(offset_micros: i64) -> Timestamp {
    Timestamp::from_micros(T0 + offset_micros)
}

fn secs(seconds: i64) -> Timestamp {
    at(seconds * 1_000_000)
}

async fn open(db: &TestDatabase) -> Arc<dyn Store> {
    guidepost_store::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", db.url))
}

async fn new_org(store: &Arc<dyn Store>, name: &str) -> OrgId {
    store
        .create_organization(name)
        .await
        .expect("create organization")
        .id
}

fn settings(slug: &str) -> ServerSettings {
    ServerSettings {
        name: format!("Server {slug}"),
        slug: Slug::parse(slug).expect("valid test slug"),
        custom_domain: None,
        auth_mode: AuthMode::None,
        walkthrough_tools_enabled: true,
        support_tool_enabled: true,
        product_name: None,
        instructions: None,
        allowed_origins: Vec::new(),
    }
}

async fn new_server(store: &Arc<dyn Store>, org: &OrgId, slug: &str) -> McpServer {
    store
        .create_server(org, ServerKind::Standard, &settings(slug))
        .await
        .expect("create server")
}

fn email(text: &str) -> Email {
    Email::parse(text).expect("valid test email")
}

/// Records compared through their serialized form: every field, no `PartialEq` needed.
macro_rules! json {
    ($value:expr) => {
        serde_json::to_value($value).expect("serializes")
    };
}

#[track_caller]
fn assert_not_found<T: Debug>(result: guidepost_store::Result<T>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn assert_conflict<T: Debug>(result: guidepost_store::Result<T>, field: &str) {
    match result {
        Err(StoreError::Conflict(message)) => {
            assert!(
                message.contains(field),
                "conflict should name {field:?}: {message:?}"
            );
        }
        other => panic!("expected a Conflict naming {field:?}, got {other:?}"),
    }
}

/// Follows `next_cursor` to the end; returns the pages.
async fn all_pages<T>(
    limit: u32,
    mut fetch: impl AsyncFnMut(PageRequest) -> Page<T>,
) -> Vec<Vec<T>> {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = fetch(PageRequest {
            after: after.take(),
            limit,
        })
        .await;
        assert!(
            page.items.len() <= limit as usize,
            "a page holds at most `limit` items"
        );
        let next = page.next_cursor.clone();
        pages.push(page.items);
        match next {
            Some(cursor) => {
                after = Some(Cursor::decode(&cursor).expect("the store's cursors decode"))
            }
            None => break,
        }
        assert!(pages.len() < 1000, "paging does not end");
    }
    pages
}

fn ids<T, K>(items: &[T], id: impl Fn(&T) -> &Id<K>) -> Vec<String> {
    items.iter().map(|item| id(item).to_string()).collect()
}

fn new_session(
    transport_id: &str,
    org: &OrgId,
    server: &ServerId,
    end_user: Option<&EndUserId>,
) -> NewSession {
    NewSession {
        transport_id: transport_id.to_owned(),
        org_id: org.clone(),
        server_id: server.clone(),
        end_user_id: end_user.cloned(),
        client_name: Some("claude-code".into()),
        client_version: Some("2.1.0".into()),
        protocol_version: Some("2025-11-25".into()),
        transport_state: format!(r#"{{"transport":"{transport_id}","capabilities":{{}}}}"#),
    }
}

fn new_support_request(
    org: &OrgId,
    server: &ServerId,
    end_user: Option<&EndUserId>,
    title: &str,
) -> NewSupportRequest {
    NewSupportRequest {
        org_id: org.clone(),
        server_id: server.clone(),
        end_user_id: end_user.cloned(),
        email: email("ada@example.com"),
        title: title.to_owned(),
        description: format!("{title}: details"),
        context: Some("step 3 of onboarding".into()),
    }
}

fn tool_call(org: &OrgId, server: &ServerId, tool: &str, created_at: Timestamp) -> ToolCall {
    ToolCall {
        id: ToolCallId::generate(),
        org_id: org.clone(),
        server_id: server.clone(),
        session_id: None,
        end_user_id: None,
        tool_name: tool.to_owned(),
        arguments: "{}".into(),
        result_summary: "ok".into(),
        is_error: false,
        error_code: None,
        duration_us: 100,
        created_at,
    }
}

async fn all_tool_calls(
    store: &Arc<dyn Store>,
    org: &OrgId,
    filter: &ToolCallFilter,
) -> Vec<ToolCall> {
    // 199: pages end inside groups of calls made in the same microsecond.
    all_pages(199, async |page| {
        store.list_tool_calls(org, filter, &page).await.unwrap()
    })
    .await
    .concat()
}

// --- the suite ---------------------------------------------------------------------

async fn connects_migrates_and_reconnects(db: &TestDatabase) {
    let store = open(db).await;
    store.ping().await.unwrap();
    let org = new_org(&store, "Acme").await;
    drop(store);
    // Migrations are applied once; a second start finds the data intact.
    let again = open(db).await;
    assert_eq!(again.get_organization(&org).await.unwrap().name, "Acme");
}

async fn organizations_and_api_keys(db: &TestDatabase) {
    let store = open(db).await;
    let acme = store.create_organization("Acme").await.unwrap();
    let beta = store.create_organization("Beta").await.unwrap();
    assert_ne!(acme.id, beta.id);
    assert_eq!(
        json!(&store.get_organization(&acme.id).await.unwrap()),
        json!(&acme)
    );
    assert_not_found(
        store.get_organization(&OrgId::generate()).await,
        "unknown organization",
    );

    let ci_secret = ApiKeySecret::generate();
    let ci = store
        .create_api_key(&acme.id, "ci", &ci_secret)
        .await
        .unwrap();
    assert_eq!((&ci.org_id, ci.name.as_str()), (&acme.id, "ci"));
    assert_eq!(ci.display_prefix, ci_secret.display_prefix);
    assert!(ci.revoked_at.is_none());
    let deploy_secret = ApiKeySecret::generate();
    let deploy = store
        .create_api_key(&acme.id, "deploy", &deploy_secret)
        .await
        .unwrap();
    let beta_secret = ApiKeySecret::generate();
    let beta_key = store
        .create_api_key(&beta.id, "beta", &beta_secret)
        .await
        .unwrap();
    assert_not_found(
        store
            .create_api_key(&OrgId::generate(), "orphan", &ApiKeySecret::generate())
            .await,
        "key for an unknown organization",
    );

    // Found by hash, whatever the organization; never by the plaintext.
    let found = store
        .find_api_key_by_hash(&ci_secret.hash)
        .await
        .unwrap()
        .expect("live key is found");
    assert_eq!(json!(&found), json!(&ci));
    let found = store
        .find_api_key_by_hash(&beta_secret.hash)
        .await
        .unwrap()
        .expect("live key is found");
    assert_eq!(
        (found.id, found.org_id),
        (beta_key.id.clone(), beta.id.clone())
    );
    assert!(
        store
            .find_api_key_by_hash(&ci_secret.plaintext)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_api_key_by_hash(&hash_secret("gp_unknown"))
            .await
            .unwrap()
            .is_none()
    );

    // Listing is scoped to the organization.
    let listed: HashSet<_> = ids(&store.list_api_keys(&acme.id).await.unwrap(), |k| &k.id)
        .into_iter()
        .collect();
    assert_eq!(
        listed,
        HashSet::from([ci.id.to_string(), deploy.id.to_string()])
    );
    assert_eq!(
        ids(&store.list_api_keys(&beta.id).await.unwrap(), |k| &k.id),
        [beta_key.id.to_string()]
    );

    // Revoking: the key is no longer found, the others are, and it stays listed.
    let revoked = store.revoke_api_key(&acme.id, &ci.id).await.unwrap();
    let revoked_at = revoked.revoked_at.expect("revoked_at is set");
    assert!(
        store
            .find_api_key_by_hash(&ci_secret.hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_api_key_by_hash(&deploy_secret.hash)
            .await
            .unwrap()
            .is_some()
    );
    let listed = store.list_api_keys(&acme.id).await.unwrap();
    let listed_ci = listed
        .iter()
        .find(|k| k.id == ci.id)
        .expect("revoked key stays listed");
    assert_eq!(listed_ci.revoked_at, Some(revoked_at));
    assert!(
        listed
            .iter()
            .find(|k| k.id == deploy.id)
            .unwrap()
            .revoked_at
            .is_none()
    );
    // Revoking again keeps the first revocation time.
    assert_eq!(
        store
            .revoke_api_key(&acme.id, &ci.id)
            .await
            .unwrap()
            .revoked_at,
        Some(revoked_at)
    );
    assert_not_found(
        store.revoke_api_key(&acme.id, &ApiKeyId::generate()).await,
        "unknown key",
    );
}

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
        .update_server(&org, &created.id, &changed)
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
            .update_server(&org, &ServerId::generate(), &changed)
            .await,
        "update unknown server",
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
            .update_server(&beta, &own.id, &settings("shared"))
            .await,
        "slug",
    );
    let mut steal_domain = settings("beta-own");
    steal_domain.custom_domain = Some("docs.example.com".into());
    assert_conflict(
        store.update_server(&beta, &own.id, &steal_domain).await,
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
    store.update_server(&acme, &taken.id, &first).await.unwrap();
}

async fn other_organizations_rows_are_not_found(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let beta = new_org(&store, "Beta").await;
    let acme_server = new_server(&store, &acme, "acme-srv").await;
    let beta_server = new_server(&store, &beta, "beta-srv").await;
    // The same tracking id in two organizations names two people.
    let acme_user = store
        .end_user_for_tracking_id(&acme, "visitor", secs(0))
        .await
        .unwrap();
    let beta_user = store
        .end_user_for_tracking_id(&beta, "visitor", secs(0))
        .await
        .unwrap();
    assert_ne!(acme_user.id, beta_user.id);
    store
        .set_end_user_email(&acme, &acme_user.id, &email("ada@acme.com"), true)
        .await
        .unwrap();
    let acme_request = store
        .create_support_request(
            &new_support_request(&acme, &acme_server.id, Some(&acme_user.id), "Help"),
            secs(1),
        )
        .await
        .unwrap();
    let beta_request = store
        .create_support_request(
            &new_support_request(&beta, &beta_server.id, None, "Beta help"),
            secs(1),
        )
        .await
        .unwrap();
    let acme_secret = ApiKeySecret::generate();
    let acme_key = store
        .create_api_key(&acme, "acme", &acme_secret)
        .await
        .unwrap();
    let beta_key = store
        .create_api_key(&beta, "beta", &ApiKeySecret::generate())
        .await
        .unwrap();
    store
        .create_session(
            &new_session("t-acme", &acme, &acme_server.id, Some(&acme_user.id)),
            secs(0),
        )
        .await
        .unwrap();
    store
        .create_session(
            &new_session("t-beta", &beta, &beta_server.id, None),
            secs(0),
        )
        .await
        .unwrap();
    store
        .insert_tool_calls(&[
            tool_call(&acme, &acme_server.id, "acme_tool", secs(2)),
            tool_call(&beta, &beta_server.id, "beta_tool", secs(2)),
        ])
        .await
        .unwrap();

    // Beta reaching for Acme's rows by id: NotFound, and nothing changes.
    assert_not_found(store.get_server(&beta, &acme_server.id).await, "get_server");
    assert_not_found(
        store
            .update_server(&beta, &acme_server.id, &settings("hijacked"))
            .await,
        "update_server",
    );
    assert_eq!(
        json!(&store.get_server(&acme, &acme_server.id).await.unwrap()),
        json!(&acme_server)
    );
    assert!(
        store
            .find_server_by_slug("hijacked")
            .await
            .unwrap()
            .is_none()
    );
    assert_not_found(
        store.delete_server(&beta, &acme_server.id).await,
        "delete_server",
    );
    store
        .get_server(&acme, &acme_server.id)
        .await
        .expect("still there");
    assert_not_found(
        store.get_end_user(&beta, &acme_user.id).await,
        "get_end_user",
    );
    assert_not_found(
        store
            .set_end_user_email(&beta, &acme_user.id, &email("mallory@beta.com"), true)
            .await,
        "set_end_user_email",
    );
    assert_eq!(
        store
            .get_end_user(&acme, &acme_user.id)
            .await
            .unwrap()
            .email,
        Some(email("ada@acme.com"))
    );
    assert_not_found(
        store
            .update_support_request_status(&beta, &acme_request.id, SupportStatus::Closed, secs(5))
            .await,
        "update_support_request_status",
    );
    let acme_requests = store
        .list_support_requests(&acme, &Default::default(), &Default::default())
        .await
        .unwrap();
    assert_eq!(acme_requests.items[0].status, SupportStatus::Open);
    assert_not_found(
        store.revoke_api_key(&beta, &acme_key.id).await,
        "revoke_api_key",
    );
    assert!(
        store
            .find_api_key_by_hash(&acme_secret.hash)
            .await
            .unwrap()
            .is_some(),
        "key still live"
    );

    // Beta cannot file into, or attach users across, Acme's rows.
    let filed = store
        .create_support_request(
            &new_support_request(&beta, &acme_server.id, None, "x"),
            secs(3),
        )
        .await;
    assert_not_found(filed, "support request on another organization's server");
    let filed = store
        .create_support_request(
            &new_support_request(&beta, &beta_server.id, Some(&acme_user.id), "x"),
            secs(3),
        )
        .await;
    assert_not_found(filed, "support request for another organization's end user");
    let opened = store
        .create_session(
            &new_session("t-cross", &beta, &acme_server.id, None),
            secs(3),
        )
        .await;
    assert_not_found(opened, "session on another organization's server");
    let opened = store
        .create_session(
            &new_session("t-cross", &beta, &beta_server.id, Some(&acme_user.id)),
            secs(3),
        )
        .await;
    assert_not_found(opened, "session for another organization's end user");
    assert!(store.find_session("t-cross").await.unwrap().is_none());
    store
        .set_session_end_user(&beta, "t-acme", &beta_user.id)
        .await
        .unwrap();
    store
        .set_session_end_user(&beta, "t-beta", &acme_user.id)
        .await
        .unwrap();
    assert_eq!(
        store
            .find_session("t-acme")
            .await
            .unwrap()
            .unwrap()
            .end_user_id,
        Some(acme_user.id.clone())
    );
    assert_eq!(
        store
            .find_session("t-beta")
            .await
            .unwrap()
            .unwrap()
            .end_user_id,
        None
    );
    assert!(
        store
            .list_sessions_of_end_user(&beta, &acme_user.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_sessions_of_end_user(&acme, &acme_user.id)
            .await
            .unwrap()
            .len(),
        1
    );

    // Lists hold only Beta's own rows, even when filtered by Acme's ids.
    let page = PageRequest::default();
    let servers = store.list_servers(&beta, &page).await.unwrap().items;
    assert_eq!(ids(&servers, |s| &s.id), [beta_server.id.to_string()]);
    let users = store
        .list_end_users(&beta, &EndUserFilter::default(), &page)
        .await
        .unwrap()
        .items;
    assert_eq!(ids(&users, |u| &u.id), [beta_user.id.to_string()]);
    let by_email = EndUserFilter {
        email: Some("ada@acme.com".into()),
        tracking_id: None,
    };
    assert!(
        store
            .list_end_users(&beta, &by_email, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let requests = store
        .list_support_requests(&beta, &SupportRequestFilter::default(), &page)
        .await
        .unwrap()
        .items;
    assert_eq!(ids(&requests, |r| &r.id), [beta_request.id.to_string()]);
    let on_acme_server = SupportRequestFilter {
        server_id: Some(acme_server.id.clone()),
        status: None,
    };
    assert!(
        store
            .list_support_requests(&beta, &on_acme_server, &page)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        ids(&store.list_api_keys(&beta).await.unwrap(), |k| &k.id),
        [beta_key.id.to_string()]
    );
    let calls = all_tool_calls(&store, &beta, &ToolCallFilter::default()).await;
    assert_eq!(
        calls
            .iter()
            .map(|c| c.tool_name.as_str())
            .collect::<Vec<_>>(),
        ["beta_tool"]
    );
    let acme_filter = ToolCallFilter {
        server_id: Some(acme_server.id.clone()),
        ..Default::default()
    };
    assert!(all_tool_calls(&store, &beta, &acme_filter).await.is_empty());
    let samples = store
        .tool_call_durations(&beta, None, secs(0), secs(10))
        .await
        .unwrap();
    assert_eq!(
        samples
            .iter()
            .map(|s| s.tool_name.as_str())
            .collect::<Vec<_>>(),
        ["beta_tool"]
    );
    assert!(
        store
            .tool_call_durations(&beta, Some(&acme_server.id), secs(0), secs(10))
            .await
            .unwrap()
            .is_empty()
    );
}

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
    assert_eq!(ids(&found, |u| &u.id), [first.id.to_string()]);
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
            .all(|w| w[0].first_seen_at >= w[1].first_seen_at),
        "newest first"
    );
    let listed: HashSet<_> = ids(&everyone, |u| &u.id).into_iter().collect();
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
        stored[0].last_seen_at,
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
    assert_eq!(ids(&found, |u| &u.id), [user.id.to_string()]);
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

    store.delete_session("t-new").await.unwrap();
    assert!(store.find_session("t-new").await.unwrap().is_none());
    store.delete_session("t-new").await.unwrap();

    // Sessions go with their server.
    store.delete_server(&org, &server.id).await.unwrap();
    assert!(store.find_session("t-main").await.unwrap().is_none());
}

async fn support_requests_filter_and_change_status(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let docs = new_server(&store, &org, "acme-docs").await;
    let help = new_server(&store, &org, "acme-help").await;
    let user = store
        .end_user_for_tracking_id(&org, "visitor", secs(0))
        .await
        .unwrap();

    let first = store
        .create_support_request(
            &new_support_request(&org, &docs.id, Some(&user.id), "Login"),
            secs(1),
        )
        .await
        .unwrap();
    assert_eq!(first.status, SupportStatus::Open);
    assert_eq!(
        (&first.org_id, &first.server_id, first.end_user_id.as_ref()),
        (&org, &docs.id, Some(&user.id))
    );
    assert_eq!(
        (first.email.as_str(), first.title.as_str()),
        ("ada@example.com", "Login")
    );
    assert_eq!(first.description, "Login: details");
    assert_eq!(first.context.as_deref(), Some("step 3 of onboarding"));
    assert_eq!((first.created_at, first.updated_at), (secs(1), secs(1)));
    let second = store
        .create_support_request(
            &new_support_request(&org, &help.id, None, "Billing"),
            secs(2),
        )
        .await
        .unwrap();
    let third = store
        .create_support_request(
            &new_support_request(&org, &docs.id, None, "Export"),
            secs(3),
        )
        .await
        .unwrap();
    assert_not_found(
        store
            .create_support_request(
                &new_support_request(&org, &ServerId::generate(), None, "x"),
                secs(4),
            )
            .await,
        "support request for an unknown server",
    );

    let list = async |server: Option<&ServerId>, status: Option<SupportStatus>| {
        let filter = SupportRequestFilter {
            server_id: server.cloned(),
            status,
        };
        let pages = all_pages(2, async |p| {
            store
                .list_support_requests(&org, &filter, &p)
                .await
                .unwrap()
        })
        .await;
        pages
            .concat()
            .iter()
            .map(|r| r.title.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(None, None).await,
        ["Export", "Billing", "Login"],
        "newest first, across pages"
    );
    assert_eq!(list(Some(&docs.id), None).await, ["Export", "Login"]);
    assert_eq!(
        list(None, Some(SupportStatus::Open)).await,
        ["Export", "Billing", "Login"]
    );

    let updated = store
        .update_support_request_status(&org, &first.id, SupportStatus::InProgress, secs(10))
        .await
        .unwrap();
    assert_eq!(
        (updated.id.clone(), updated.status),
        (first.id.clone(), SupportStatus::InProgress)
    );
    assert_eq!(
        (updated.created_at, updated.updated_at),
        (secs(1), secs(10))
    );
    assert_eq!(list(None, Some(SupportStatus::InProgress)).await, ["Login"]);
    assert_eq!(
        list(None, Some(SupportStatus::Open)).await,
        ["Export", "Billing"]
    );
    assert_eq!(
        list(Some(&docs.id), Some(SupportStatus::Open)).await,
        ["Export"]
    );
    assert!(
        list(Some(&help.id), Some(SupportStatus::Resolved))
            .await
            .is_empty()
    );
    store
        .update_support_request_status(&org, &second.id, SupportStatus::Resolved, secs(11))
        .await
        .unwrap();
    store
        .update_support_request_status(&org, &third.id, SupportStatus::Closed, secs(12))
        .await
        .unwrap();
    assert_eq!(list(None, Some(SupportStatus::Closed)).await, ["Export"]);
    assert_eq!(list(None, Some(SupportStatus::Resolved)).await, ["Billing"]);
    assert_not_found(
        store
            .update_support_request_status(
                &org,
                &SupportRequestId::generate(),
                SupportStatus::Closed,
                secs(13),
            )
            .await,
        "unknown support request",
    );
}

async fn tool_calls_batch_list_and_report(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let other_org = new_org(&store, "Beta").await;
    let docs = new_server(&store, &org, "acme-docs").await;
    let help = new_server(&store, &org, "acme-help").await;
    let other_server = new_server(&store, &other_org, "beta-srv").await;
    let users = [EndUserId::generate(), EndUserId::generate()];
    const TOOLS: [&str; 3] = ["list_walkthroughs", "next_step", "create_support_request"];

    // 1200 calls, four to each millisecond (ties that paging must break by id).
    let calls: Vec<ToolCall> = (0..1200i64)
        .map(|i| {
            let server = if i % 4 == 0 { &help } else { &docs };
            let mut call = tool_call(
                &org,
                &server.id,
                TOOLS[(i % 3) as usize],
                at((i / 4) * 1000),
            );
            call.session_id = (i % 2 == 0).then(|| format!("session-{}", i % 7));
            call.end_user_id = (i % 5 != 0).then(|| users[(i % 2) as usize].clone());
            call.arguments = format!(r#"{{"i":{i}}}"#);
            call.result_summary = format!("result {i}");
            call.is_error = i % 10 == 0;
            call.error_code = call.is_error.then_some(-32602);
            call.duration_us = i * 7 + 1;
            call
        })
        .collect();
    store.insert_tool_calls(&calls).await.unwrap();
    store
        .insert_tool_calls(&[tool_call(
            &other_org,
            &other_server.id,
            "next_step",
            at(5_000),
        )])
        .await
        .unwrap();
    store.insert_tool_calls(&[]).await.unwrap();

    let mut newest_first = calls.clone();
    newest_first.sort_by(|a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())));

    // Every row, once, newest first, across eight pages whose ends split groups of
    // calls with the same time; every field round-trips.
    let pages = all_pages(150, async |p| {
        store
            .list_tool_calls(&org, &ToolCallFilter::default(), &p)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [150; 8]);
    let listed = pages.concat();
    assert_eq!(json!(&listed), json!(&newest_first));

    // Filters, alone and combined.
    let expect = |keep: &dyn Fn(&ToolCall) -> bool| {
        ids(
            &newest_first
                .iter()
                .filter(|c| keep(c))
                .cloned()
                .collect::<Vec<_>>(),
            |c| &c.id,
        )
    };
    let by_server = ToolCallFilter {
        server_id: Some(help.id.clone()),
        ..Default::default()
    };
    let found = all_tool_calls(&store, &org, &by_server).await;
    assert_eq!(found.len(), 300);
    assert_eq!(ids(&found, |c| &c.id), expect(&|c| c.server_id == help.id));
    let by_user = ToolCallFilter {
        end_user_id: Some(users[1].clone()),
        ..Default::default()
    };
    assert_eq!(
        ids(&all_tool_calls(&store, &org, &by_user).await, |c| &c.id),
        expect(&|c| c.end_user_id.as_ref() == Some(&users[1]))
    );
    let combined = ToolCallFilter {
        server_id: Some(docs.id.clone()),
        end_user_id: Some(users[0].clone()),
        tool_name: Some("next_step".into()),
    };
    let found = all_tool_calls(&store, &org, &combined).await;
    assert!(!found.is_empty());
    assert_eq!(
        ids(&found, |c| &c.id),
        expect(&|c| c.server_id == docs.id
            && c.end_user_id.as_ref() == Some(&users[0])
            && c.tool_name == "next_step")
    );
    let nothing = ToolCallFilter {
        tool_name: Some("no_such_tool".into()),
        ..Default::default()
    };
    assert!(all_tool_calls(&store, &org, &nothing).await.is_empty());

    // The report window is [since, until): calls 4..400 (milliseconds 1 to 99).
    let mut samples = store
        .tool_call_durations(&org, None, at(1000), at(100_000))
        .await
        .unwrap();
    let in_window: Vec<&ToolCall> = calls
        .iter()
        .filter(|c| c.created_at >= at(1000) && c.created_at < at(100_000))
        .collect();
    assert_eq!((samples.len(), in_window.len()), (396, 396));
    let sum = |durations: &mut dyn Iterator<Item = i64>| durations.sum::<i64>();
    assert_eq!(
        sum(&mut samples.iter().map(|s| s.duration_us)),
        sum(&mut in_window.iter().map(|c| c.duration_us))
    );
    assert_eq!(
        samples.iter().filter(|s| s.is_error).count(),
        in_window.iter().filter(|c| c.is_error).count()
    );
    let mut tools: Vec<_> = in_window.iter().map(|c| c.tool_name.clone()).collect();
    tools.sort();
    samples.sort_by(|a, b| a.tool_name.cmp(&b.tool_name));
    assert_eq!(
        samples
            .iter()
            .map(|s| s.tool_name.clone())
            .collect::<Vec<_>>(),
        tools
    );
    let on_help = store
        .tool_call_durations(&org, Some(&help.id), at(1000), at(100_000))
        .await
        .unwrap();
    assert_eq!(
        on_help.len(),
        in_window.iter().filter(|c| c.server_id == help.id).count()
    );
    assert!(
        store
            .tool_call_durations(&org, None, at(300_000), at(400_000))
            .await
            .unwrap()
            .is_empty()
    );
    let everything = store
        .tool_call_durations(&org, None, at(0), at(300_000))
        .await
        .unwrap();
    assert_eq!(everything.len(), 1200);

    // A batch is one transaction: one bad row (a duplicate id) and none is written.
    let fresh = tool_call(&org, &docs.id, "fresh_tool", at(500_000));
    let duplicate = calls[0].clone();
    assert!(store.insert_tool_calls(&[fresh, duplicate]).await.is_err());
    let fresh_filter = ToolCallFilter {
        tool_name: Some("fresh_tool".into()),
        ..Default::default()
    };
    assert!(all_tool_calls(&store, &org, &fresh_filter).await.is_empty());
    assert_eq!(
        all_tool_calls(&store, &org, &ToolCallFilter::default())
            .await
            .len(),
        1200
    );
}

async fn statements_are_counted(db: &TestDatabase) {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let server = new_server(&store, &org, "acme-srv").await;

    let before = store.statements_executed();
    store.get_server(&org, &server.id).await.unwrap();
    assert_eq!(
        store.statements_executed() - before,
        1,
        "get_server is one statement"
    );
    let before = store.statements_executed();
    assert_not_found(
        store.get_server(&org, &ServerId::generate()).await,
        "unknown server",
    );
    assert_eq!(
        store.statements_executed() - before,
        1,
        "a miss is one statement too"
    );
    let before = store.statements_executed();
    store.find_server_by_slug("acme-srv").await.unwrap();
    store
        .end_user_for_tracking_id(&org, "visitor", secs(0))
        .await
        .unwrap();
    assert_eq!(
        store.statements_executed() - before,
        2,
        "find_server_by_slug and end_user_for_tracking_id"
    );
}

backend_tests!(
    connects_migrates_and_reconnects,
    organizations_and_api_keys,
    servers_create_get_update_delete,
    servers_list_in_pages_newest_first,
    duplicate_slug_or_domain_is_a_conflict,
    other_organizations_rows_are_not_found,
    end_users_by_tracking_id,
    concurrent_first_sight_makes_one_end_user,
    verified_email_is_never_downgraded,
    sessions_persist_touch_and_expire,
    support_requests_filter_and_change_status,
    tool_calls_batch_list_and_report,
    statements_are_counted,
);
