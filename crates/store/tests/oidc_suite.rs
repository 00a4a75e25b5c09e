//! Organizations' identity providers in the store, on every backend: one per server, kept
//! inside its organization, replaced whole, and not removable while the server uses it.

mod common;

use guidepost_domain::*;
use guidepost_store::StoreError;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{assert_not_found, new_org, oauth_settings, open};

fn provider(issuer: &str, sealed: Option<&str>) -> NewOidcProvider {
    NewOidcProvider {
        issuer_url: issuer.into(),
        client_id: "guidepost".into(),
        client_secret_sealed: sealed.map(str::to_owned),
        accept_unverified_email: sealed.is_some(),
    }
}

backend_tests! {
    async fn identity_providers_are_per_server_and_stay_while_in_use(db: &TestDatabase) {
        let store = open(db).await;
        let org = new_org(&store, "Acme").await;
        let other = new_org(&store, "Other").await;
        let server = store.create_server(&org, ServerKind::Standard, &oauth_settings("acme")).await.unwrap();
        let id = &server.id;
        assert!(store.get_oidc_provider(&org, id).await.unwrap().is_none());

        let first = store.put_oidc_provider(&org, id, &provider("https://a.example", Some("gpk1.x.y"))).await.unwrap();
        assert_eq!(first.client_secret_sealed.as_deref(), Some("gpk1.x.y"));
        assert!(first.accept_unverified_email);
        let second = store.put_oidc_provider(&org, id, &provider("https://b.example", None)).await.unwrap();
        assert_eq!(second.issuer_url, "https://b.example");
        assert_eq!(second.client_secret_sealed, None, "a PUT replaces the whole configuration");
        assert!(!second.accept_unverified_email);
        assert_eq!(second.created_at, first.created_at);

        // Another organization neither sees nor writes it.
        assert!(store.get_oidc_provider(&other, id).await.unwrap().is_none());
        let refused = store.put_oidc_provider(&other, id, &provider("https://evil.example", None)).await;
        assert_not_found(refused, "another organization writes no provider");
        assert_not_found(store.delete_oidc_provider(&other, id).await, "another organization removes no provider");

        // In use by a custom_oauth server: not removable.
        let mut custom = oauth_settings("acme");
        custom.auth_mode = AuthMode::CustomOauth;
        store.update_server(&org, id, &custom, None).await.unwrap();
        assert!(matches!(store.delete_oidc_provider(&org, id).await, Err(StoreError::Conflict(_))));
        store.update_server(&org, id, &oauth_settings("acme"), None).await.unwrap();
        store.delete_oidc_provider(&org, id).await.unwrap();
        assert_not_found(store.delete_oidc_provider(&org, id).await, "a removed provider is gone");

        // It goes with its server.
        store.put_oidc_provider(&org, id, &provider("https://a.example", None)).await.unwrap();
        store.delete_server(&org, id).await.unwrap();
        assert!(store.get_oidc_provider(&org, id).await.unwrap().is_none());
    }
}
