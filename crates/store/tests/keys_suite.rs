//! Organizations and their API keys, on every backend: keys are found by hash only,
//! stay inside their organization, and keys made before scopes keep every scope.

mod common;

use std::collections::HashSet;
use std::str::FromStr;

use guidepost_domain::*;
use guidepost_testkit::{TestBackend, TestDatabase, backend_tests};
use sqlx::AssertSqlSafe;
use sqlx::sqlite::SqliteConnectOptions;

use common::{assert_conflict, assert_not_found, ids, json, open};
use guidepost_store::{KeyMaker, Store};

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
        .create_api_key(
            &acme.id,
            KeyMaker::Platform,
            "ci",
            &ApiKeyScopes::default_for_new_keys(),
            &ci_secret,
        )
        .await
        .unwrap();
    assert_eq!((&ci.org_id, ci.name.as_str()), (&acme.id, "ci"));
    assert_eq!(
        ci.scopes,
        ApiKeyScopes::default_for_new_keys(),
        "kept as given"
    );
    assert_eq!(ci.display_prefix, ci_secret.display_prefix);
    assert!(ci.revoked_at.is_none());
    let deploy_secret = ApiKeySecret::generate();
    let deploy = store
        .create_api_key(
            &acme.id,
            KeyMaker::Platform,
            "deploy",
            &ApiKeyScopes::all(),
            &deploy_secret,
        )
        .await
        .unwrap();
    let beta_secret = ApiKeySecret::generate();
    let beta_key = store
        .create_api_key(
            &beta.id,
            KeyMaker::Platform,
            "beta",
            &ApiKeyScopes::all(),
            &beta_secret,
        )
        .await
        .unwrap();
    assert_not_found(
        store
            .create_api_key(
                &OrgId::generate(),
                KeyMaker::Platform,
                "orphan",
                &ApiKeyScopes::all(),
                &ApiKeySecret::generate(),
            )
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

/// A key stored before keys had scopes (migrations up to 0011) could do everything, and
/// keeps every scope once the store opens with the scopes migration.
async fn keys_made_before_scopes_keep_every_scope(db: &TestDatabase) {
    let (org, key) = (OrgId::generate(), ApiKeyId::generate());
    let secret = ApiKeySecret::generate();
    // The rows as the schema of migration 0011 holds them: written by hand, as no
    // store method of today writes that schema.
    let rows = [
        format!("INSERT INTO organizations (id, name, created_at) VALUES ('{org}', 'Old', 0)"),
        format!(
            "INSERT INTO api_keys (id, org_id, name, display_prefix, key_hash, created_at) \
             VALUES ('{key}', '{org}', 'old', '{}', '{}', 0)",
            secret.display_prefix, secret.hash
        ),
    ];
    match db.backend {
        TestBackend::Sqlite => {
            let options = SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            sqlx::migrate!("migrations/sqlite")
                .run_to(11, &pool)
                .await
                .unwrap();
            for row in rows {
                sqlx::query(AssertSqlSafe(row))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        TestBackend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::migrate!("migrations/postgres")
                .run_to(11, &pool)
                .await
                .unwrap();
            for row in rows {
                sqlx::query(AssertSqlSafe(row))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
    }

    let store = open(db).await;
    let found = store
        .find_api_key_by_hash(&secret.hash)
        .await
        .unwrap()
        .expect("the old key is live");
    assert_eq!((found.id, found.scopes), (key, ApiKeyScopes::all()));
}

/// A key made by `maker` in `org`.
async fn make_key(
    store: &dyn Store,
    org: &OrgId,
    maker: KeyMaker<'_>,
    name: &str,
) -> guidepost_store::Result<ApiKey> {
    let secret = ApiKeySecret::generate();
    store
        .create_api_key(org, maker, name, &ApiKeyScopes::all(), &secret)
        .await
}

/// A key's maker is looked at again as the key is added: a revoked key, or a member who
/// is no longer an owner or no longer there, makes none.
async fn a_maker_that_lost_the_right_makes_no_key(db: &TestDatabase) {
    let store = open(db).await;
    let store = &*store;
    let acme = store.create_organization("Acme").await.unwrap().id;
    let first = make_key(store, &acme, KeyMaker::Platform, "first")
        .await
        .unwrap();
    make_key(store, &acme, KeyMaker::Key(&first.id), "by a live key")
        .await
        .unwrap();
    store.revoke_api_key(&acme, &first.id).await.unwrap();
    let refused = make_key(store, &acme, KeyMaker::Key(&first.id), "by a revoked key").await;
    assert_conflict(refused, "revoked");
    let email = Email::parse("ada@acme.example").unwrap();
    let ada = store
        .create_member(&acme, &email, Role::Owner)
        .await
        .unwrap();
    make_key(store, &acme, KeyMaker::Member(&ada.id), "by an owner")
        .await
        .unwrap();
    let bob = Email::parse("bob@acme.example").unwrap();
    store.create_member(&acme, &bob, Role::Owner).await.unwrap();
    store
        .set_member_role(&acme, &ada.id, Role::Editor)
        .await
        .unwrap();
    let refused = make_key(store, &acme, KeyMaker::Member(&ada.id), "by an editor").await;
    assert_conflict(refused, "owner");
    store.delete_member(&acme, &ada.id).await.unwrap();
    let refused = make_key(store, &acme, KeyMaker::Member(&ada.id), "by nobody").await;
    assert_conflict(refused, "owner");
    let keys = store.list_api_keys(&acme).await.unwrap();
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["first", "by a live key", "by an owner"]);
}

/// An organization holds at most `Limits::API_KEYS` keys in use: a revoked one makes room.
async fn keys_in_use_are_capped_and_a_revocation_makes_room(db: &TestDatabase) {
    let store = open(db).await;
    let store = &*store;
    let acme = store.create_organization("Acme").await.unwrap().id;
    let mut made = Vec::new();
    for _ in 0..Limits::API_KEYS {
        made.push(
            make_key(store, &acme, KeyMaker::Platform, "k")
                .await
                .unwrap(),
        );
    }
    let cap = format!("at most {} API keys", Limits::API_KEYS);
    assert_conflict(make_key(store, &acme, KeyMaker::Platform, "k").await, &cap);
    store.revoke_api_key(&acme, &made[0].id).await.unwrap();
    make_key(store, &acme, KeyMaker::Platform, "k")
        .await
        .unwrap();
    assert_conflict(
        make_key(store, &acme, KeyMaker::Platform, "k").await,
        "revoke one first",
    );
    // Another organization's count is its own.
    let beta = store.create_organization("Beta").await.unwrap().id;
    make_key(store, &beta, KeyMaker::Platform, "b")
        .await
        .unwrap();
}

backend_tests!(
    organizations_and_api_keys,
    keys_made_before_scopes_keep_every_scope,
    a_maker_that_lost_the_right_makes_no_key,
    keys_in_use_are_capped_and_a_revocation_makes_room,
);
