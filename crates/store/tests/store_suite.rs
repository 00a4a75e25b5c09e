//! The store as a whole, on every backend: it connects and migrates once, one
//! organization never reaches another's rows, and statements are counted.

mod common;

use guidepost_domain::*;
use guidepost_store::{EndUserFilter, KeyMaker, StoreError, SupportRequestFilter, ToolCallFilter};
use guidepost_testkit::{TestDatabase, backend_tests};
use sqlx::Connection;

use common::{
    all_tool_calls, assert_not_found, email, ids, json, new_org, new_server, new_session,
    new_support_request, open, secs, settings, tool_call,
};

async fn connects_migrates_and_reconnects(db: &TestDatabase) {
    let store = open(db).await;
    store.ping().await.unwrap();
    let org = new_org(&store, "Acme").await;
    drop(store);
    // Migrations are applied once; a second start finds the data intact.
    let again = open(db).await;
    assert_eq!(again.get_organization(&org).await.unwrap().name, "Acme");
}

/// A database that a newer Guidepost migrated further (here: a migration from the
/// future recorded in sqlx's table) is refused at connect, naming both versions, and
/// left as it was.
async fn a_database_from_a_newer_version_is_refused_naming_both(db: &TestDatabase) {
    drop(open(db).await);
    let from_the_future = "INSERT INTO _sqlx_migrations \
        (version, description, success, checksum, execution_time) \
        VALUES (9999, 'from a newer Guidepost', TRUE, $1, 0)";
    let highest = "SELECT MAX(version) FROM _sqlx_migrations";
    let checksum = vec![0u8; 48];
    let sqlite = db.url.starts_with("sqlite:");
    if sqlite {
        let mut connection = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query(from_the_future)
            .bind(&checksum)
            .execute(&mut connection)
            .await
            .unwrap();
    } else {
        let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(from_the_future)
            .bind(&checksum)
            .execute(&mut connection)
            .await
            .unwrap();
    }
    let refused = guidepost_store::connect(&db.url)
        .await
        .err()
        .expect("refused");
    let text = refused.to_string();
    assert!(
        matches!(refused, StoreError::NewerSchema { database: 9999, binary } if binary >= 16),
        "{text}"
    );
    assert!(text.contains("9999") && text.contains("newer"), "{text}");
    let recorded: i64 = if sqlite {
        let mut connection = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(highest)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    } else {
        let mut connection = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_scalar(highest)
            .fetch_one(&mut connection)
            .await
            .unwrap()
    };
    assert_eq!(recorded, 9999, "nothing was undone");
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
        .create_api_key(
            &acme,
            KeyMaker::Platform,
            "acme",
            &ApiKeyScopes::all(),
            &acme_secret,
        )
        .await
        .unwrap();
    let beta_key = store
        .create_api_key(
            &beta,
            KeyMaker::Platform,
            "beta",
            &ApiKeyScopes::all(),
            &ApiKeySecret::generate(),
        )
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
            .update_server(&beta, &acme_server.id, &settings("hijacked"), None)
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
    assert_eq!(ids(&users, |u| &u.end_user.id), [beta_user.id.to_string()]);
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
        end_user_id: None,
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
    // Rollups: whole hours around the calls.
    let (since, until) = (secs(-3_600), secs(7_200));
    let rollups = store.tool_rollups(&beta, None, since, until).await.unwrap();
    assert_eq!(
        rollups
            .iter()
            .map(|r| r.tool_name.as_str())
            .collect::<Vec<_>>(),
        ["beta_tool"]
    );
    assert!(
        store
            .tool_rollups(&beta, Some(&acme_server.id), since, until)
            .await
            .unwrap()
            .is_empty()
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
    a_database_from_a_newer_version_is_refused_naming_both,
    other_organizations_rows_are_not_found,
    statements_are_counted,
);
