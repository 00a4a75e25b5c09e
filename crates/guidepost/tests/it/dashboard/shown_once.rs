//! A new API key is shown once after the redirect, across nodes: with a master
//! key it waits in the store, sealed and bound to the session, so the page after the 303
//! shows it on another node of the same database; reloading there or on the first node
//! shows it no more and makes no second key. Another session never sees it.

use guidepost_core::secrets::MasterKey;
use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;

use super::{dashboard_app_with, member};
use crate::helpers::spawn_app_with;

const NEW_KEY: &str = "<pre id=\"new-key\">";

backend_tests! {
    async fn a_new_key_made_on_one_node_is_shown_once_on_another(db: &TestDatabase) {
        let key = || Some(MasterKey::from_bytes([9; 32]));
        let first = dashboard_app_with(db, move |s| s.platform.master_key = key()).await;
        let second = spawn_app_with(db, move |s| s.platform.master_key = key()).await;
        let mut owner = member(&first, &first.tenant, "own@acme.example", Role::Owner).await;
        // Another owner's session, signed in before the key is made.
        let mut other = member(&first, &first.tenant, "two@acme.example", Role::Owner).await;
        other.get("/app/api-keys").await.ok();

        owner.get("/app/api-keys").await.ok();
        owner.post("/app/api-keys", &[("name", "deploys")]).await.redirected_to("/app/api-keys?done=created");
        // The page lands on the second node, which made nothing.
        owner.base = second.url.clone();
        let shown = owner.get("/app/api-keys?done=created").await.ok().to_owned();
        let made = shown.split(NEW_KEY).nth(1).and_then(|rest| rest.split("</pre>").next())
            .unwrap_or_else(|| panic!("the new key on the other node's page: {shown}")).to_owned();
        let (status, _) = first.app.get("/servers", &made).await;
        assert_eq!(status, StatusCode::OK, "the key shown is the key made");

        // Reloaded on either node: not shown again, and no second key.
        for node in [&second.url, &first.app.url] {
            owner.base = node.clone();
            let again = owner.get("/app/api-keys?done=created").await.ok().to_owned();
            assert!(!again.contains(NEW_KEY) && !again.contains(&made), "{again}");
        }
        assert!(!other.get("/app/api-keys").await.ok().contains(NEW_KEY), "not another session's");
        let (_, keys) = first.app.get("/api-keys", &first.tenant.key).await;
        let deploys = keys["items"].as_array().unwrap().iter().filter(|k| k["name"] == "deploys").count();
        assert_eq!(deploys, 1, "{keys}");
    }
}
