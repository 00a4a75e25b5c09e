//! What the store suites share. Each suite runs against SQLite and — when
//! `GUIDEPOST_TEST_POSTGRES_URL` is set — PostgreSQL, each test in its own fresh database,
//! and checks behaviour through the `Store` trait only.

// Each suite is its own test binary and uses only some of these helpers.
#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use guidepost_domain::*;
use guidepost_store::{NewWalkthrough, ProgressKey, Store, StoreError, ToolCallFilter};
use guidepost_testkit::TestDatabase;

/// A fixed point in time, so that tests control every caller-supplied timestamp.
pub const T0: i64 = 1_750_000_000_000_000;

pub fn at(offset_micros: i64) -> Timestamp {
    Timestamp::from_micros(T0 + offset_micros)
}

pub fn secs(seconds: i64) -> Timestamp {
    at(seconds * 1_000_000)
}

pub async fn open(db: &TestDatabase) -> Arc<dyn Store> {
    guidepost_store::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", db.url))
}

pub async fn new_org(store: &Arc<dyn Store>, name: &str) -> OrgId {
    store
        .create_organization(name)
        .await
        .expect("create organization")
        .id
}

pub fn settings(slug: &str) -> ServerSettings {
    ServerSettings {
        name: format!("Server {slug}"),
        slug: Slug::parse(slug).expect("valid test slug"),
        custom_domain: None,
        pending_domain: None,
        auth_mode: AuthMode::None,
        walkthrough_tools_enabled: true,
        support_tool_enabled: true,
        feedback_tool_enabled: false,
        product_name: None,
        instructions: None,
        allowed_origins: Vec::new(),
    }
}

/// [`settings`] for a server whose end users sign in with the platform's OAuth.
pub fn oauth_settings(slug: &str) -> ServerSettings {
    ServerSettings {
        auth_mode: AuthMode::PlatformOauth,
        ..settings(slug)
    }
}

pub async fn new_server(store: &Arc<dyn Store>, org: &OrgId, slug: &str) -> McpServer {
    store
        .create_server(org, ServerKind::Standard, &settings(slug))
        .await
        .expect("create server")
}

/// A draft walkthrough's fields: `title` and nothing else.
pub fn walkthrough_fields(title: &str) -> WalkthroughFields {
    WalkthroughFields {
        title: title.into(),
        description: None,
        status: WalkthroughStatus::Draft,
        estimated_duration_minutes: None,
        tags: vec![],
        metadata: serde_json::json!({}),
    }
}

/// A draft walkthrough `title` with no steps.
pub async fn new_walkthrough(store: &Arc<dyn Store>, org: &OrgId, title: &str) -> WalkthroughId {
    let new = NewWalkthrough {
        fields: walkthrough_fields(title),
        external_key: None,
    };
    store
        .create_walkthrough(org, &new)
        .await
        .expect("create walkthrough")
        .id
}

/// A step `title` whose content names it.
pub fn step(title: &str) -> StepFields {
    StepFields {
        title: title.into(),
        section_title: None,
        content: format!("{title} content"),
    }
}

/// `people` end users (tracking ids `person-N`) of a server `acme` of a new organization,
/// each keyed to the same published walkthrough, whose steps are named `steps`: what the
/// progress writes' tests start from.
pub async fn people_at_a_published_walkthrough(
    store: &Arc<dyn Store>,
    steps: &[&str],
    people: usize,
) -> (Vec<ProgressKey>, WalkthroughVersion) {
    let org = new_org(store, "Acme").await;
    let w = new_walkthrough(store, &org, "Intro").await;
    for title in steps {
        store
            .add_step(&org, &w, &step(title), &StepPlacement::Last)
            .await
            .unwrap();
    }
    let version = store.publish_walkthrough(&org, &w).await.unwrap();
    let server = new_server(store, &org, "acme").await.id;
    let mut keys = Vec::with_capacity(people);
    for person in 0..people {
        let user = store
            .end_user_for_tracking_id(&org, &format!("person-{person}"), Timestamp::now())
            .await
            .unwrap();
        keys.push(ProgressKey {
            org_id: org.clone(),
            end_user_id: user.id,
            server_id: server.clone(),
            walkthrough_id: w.clone(),
        });
    }
    (keys, version)
}

pub fn email(text: &str) -> Email {
    Email::parse(text).expect("valid test email")
}

/// Records compared through their serialized form: every field, no `PartialEq` needed.
// Not every suite compares records so (`dead_code` above does not cover macros).
#[allow(unused_macros)]
macro_rules! json {
    ($value:expr) => {
        serde_json::to_value($value).expect("serializes")
    };
}
#[allow(unused_imports)]
pub(crate) use json;

#[track_caller]
pub fn assert_not_found<T: Debug>(result: guidepost_store::Result<T>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_conflict<T: Debug>(result: guidepost_store::Result<T>, field: &str) {
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
pub async fn all_pages<T>(
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

pub fn ids<T, K>(items: &[T], id: impl Fn(&T) -> &Id<K>) -> Vec<String> {
    items.iter().map(|item| id(item).to_string()).collect()
}

pub fn new_session(
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
        client_prefix: None,
    }
}

pub fn new_support_request(
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

pub fn tool_call(org: &OrgId, server: &ServerId, tool: &str, created_at: Timestamp) -> ToolCall {
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
        upstream_id: None,
        is_test: false,
        refusal: None,
    }
}

/// Longer than any write here takes, far shorter than SQLite's busy timeout (10 s): a
/// write that waits for a lock another connection holds runs into it.
pub const NOT_HELD_UP: Duration = Duration::from_secs(4);

/// Starts every key's progress at once (the group commit writes them together) at the
/// first step of `version`; fails with `held_up` when that waits out [`NOT_HELD_UP`].
pub async fn start_all_not_held_up(
    store: &Arc<dyn Store>,
    keys: &[ProgressKey],
    version: &WalkthroughVersion,
    held_up: &str,
) -> Vec<Progress> {
    let start = ProgressState::start(version);
    let starts = keys.iter().map(|key| store.start_progress(key, &start));
    tokio::time::timeout(NOT_HELD_UP, futures::future::try_join_all(starts))
        .await
        .expect(held_up)
        .unwrap()
}

/// Records `count` calls of `server` as one batch; fails with `held_up` when that waits
/// out [`NOT_HELD_UP`].
pub async fn record_calls_not_held_up(
    store: &Arc<dyn Store>,
    org: &OrgId,
    server: &ServerId,
    count: i64,
    held_up: &str,
) {
    let batch: Vec<ToolCall> = (0..count)
        .map(|i| tool_call(org, server, "next_step", at(i)))
        .collect();
    tokio::time::timeout(NOT_HELD_UP, store.insert_tool_calls(&batch))
        .await
        .expect(held_up)
        .unwrap();
}

pub async fn all_tool_calls(
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

/// Two organizations with a server each, whose people sign in through the platform's
/// authorization server: what the authorization and linking suites start from.
pub struct OAuthWorld {
    pub store: Arc<dyn Store>,
    pub org: OrgId,
    pub server: ServerId,
    pub other_org: OrgId,
    pub other_server: ServerId,
}

pub async fn oauth_world(db: &TestDatabase) -> OAuthWorld {
    let store = open(db).await;
    let org = new_org(&store, "Acme").await;
    let other_org = new_org(&store, "Other").await;
    let kind = ServerKind::Standard;
    let server = store
        .create_server(&org, kind, &oauth_settings("acme"))
        .await
        .unwrap()
        .id;
    let other_server = store
        .create_server(&other_org, kind, &oauth_settings("other"))
        .await
        .unwrap()
        .id;
    OAuthWorld {
        store,
        org,
        server,
        other_org,
        other_server,
    }
}
