//! Prompts, resources and completion of an upstream with `person` sign-in: like
//! its tools, each person's get, read, subscription and completion goes through their own
//! connection, never the account the upstream was discovered with. The remote Guidepost's
//! server `remote` offers the tests' fixture's prompt and resource (attached there as `fx`), and
//! records who asked for them.

use guidepost_testkit::{TestDatabase, backend_tests, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::connections_people::{connect, gateway_of, install_for_people, platform_origin};
use crate::gateway_fixture::{FixtureDir, wait_for};
use crate::oauth_helpers::{OAuthApp, oauth_app};
use crate::walkthrough_runtime::{expect_chunk, open_get_stream_of};

/// The remote whose server `remote` offers the fixture's prompt `greet` and resource
/// `notes://readme` as `fx__greet` and `fx+notes://readme`, and the gateway beside it.
async fn remote_with_features_and_gateway(db: &TestDatabase) -> (OAuthApp, OAuthApp, FixtureDir) {
    let dir = FixtureDir::new();
    let features = dir.0.join("features.json");
    let offered = json!({
        "prompts": [{"name": "greet", "description": "Greets someone by name.",
                     "arguments": [{"name": "name", "description": "Who to greet.", "required": true}]}],
        "resources": [{"uri": "notes://readme", "name": "readme",
                       "description": "The project's README.", "mimeType": "text/plain"}]
    });
    std::fs::write(&features, offered.to_string()).unwrap();
    let catalog = dir.catalog(&[("FIXTURE_FEATURES", &features.display().to_string())]);
    let remote = oauth_app(db, &["remote"], move |settings| {
        settings.platform.catalog = catalog
    })
    .await;
    let (app, tenant) = (&remote.app, &remote.tenant);
    app.trust_new_tools(tenant).await;
    let install = json!({"catalog_entry_id": "fixture"});
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &tenant.key, Some(install))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let fixture = installed["id"].as_str().unwrap().to_owned();
    wait_for(app, tenant, &fixture, |u| u["status"] == "ready").await;
    let server = server_id(&remote, "remote").await;
    let path = format!("/servers/{server}/upstreams/{fixture}");
    let (status, body) = app
        .api(
            Method::PUT,
            &path,
            &tenant.key,
            Some(json!({"prefix": "fx"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gateway = gateway_of(db, &remote, "").await;
    (remote, gateway, dir)
}

async fn server_id(app: &OAuthApp, slug: &str) -> String {
    let (_, servers) = app.app.get("/servers", &app.tenant.key).await;
    let found = servers["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["slug"] == slug);
    found.unwrap()["id"].as_str().unwrap().to_owned()
}

/// The remote's records of `email`'s requests: their names (`prompts/get fx__greet`, …).
async fn asked_at_remote_by(remote: &OAuthApp, email: &str) -> Vec<String> {
    let (_, people) = remote
        .app
        .get(&format!("/end-users?email={email}"), &remote.tenant.key)
        .await;
    let Some(person) = people["items"].as_array().and_then(|items| items.first()) else {
        return Vec::new();
    };
    let path = format!(
        "/tool-calls?limit=200&end_user_id={}",
        person["id"].as_str().unwrap()
    );
    let (_, calls) = remote.app.get(&path, &remote.tenant.key).await;
    calls["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["tool_name"].as_str().map(str::to_owned))
        .collect()
}

fn error_text(answer: &Value) -> String {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

backend_tests! {
    async fn each_person_gets_prompts_reads_and_subscribes_to_resources_as_their_own_account(db: &TestDatabase) {
        let (remote, gateway, _dir) = remote_with_features_and_gateway(db).await;
        install_for_people(&remote, &gateway).await;
        let ada = gateway.sign_in("gateway", "ada@people.example").await;
        let mcp = gateway.mcp("gateway", Some(&ada.access), None);

        // Listed from what the editor's connection discovered: no connection of Ada's needed.
        let prompts = mcp.call(1, "prompts/list", json!({})).await;
        assert_eq!(prompts.body["result"]["prompts"][0]["name"], "rm__fx__greet", "{}", prompts.body);
        let resources = mcp.call(2, "resources/list", json!({})).await;
        let uri = resources.body["result"]["resources"][0]["uri"].as_str().unwrap_or_default().to_owned();
        assert!(uri.starts_with("rm+") && uri.ends_with("notes://readme"), "{}", resources.body);

        // Not connected: the get is refused with the link to connect (never answered
        // through the editor's account), worded for an agent.
        let greet = json!({"name": "rm__fx__greet", "arguments": {"name": "Ada"}});
        let refused = mcp.call(3, "prompts/get", greet.clone()).await;
        let text = error_text(&refused.body);
        assert!(text.contains("not connected yet"), "{}", refused.body);
        let link = text[text.find("http://").unwrap()..].split_whitespace().next().unwrap().to_owned();
        assert!(link.starts_with(&format!("{}/connect/gpc_", platform_origin(&gateway))), "{link}");
        let read = mcp.call(4, "resources/read", json!({"uri": uri})).await;
        assert!(error_text(&read.body).contains("not connected yet"), "{}", read.body);
        assert_eq!(asked_at_remote_by(&remote, "editor@gateway.example").await.iter()
            .filter(|name| name.starts_with("prompts/") || name.starts_with("resources/read")).count(), 0,
            "nothing went through the editor's account");

        // Connected as her own account at the remote: her get, read and completion arrive there as her.
        let (status, page) = connect(&remote, &gateway, &link, "ada@people.example", "ada@remote.example").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = mcp.call(5, "prompts/get", greet).await;
        let said = got.body["result"]["messages"][0]["content"]["text"].as_str().unwrap_or_default();
        assert_eq!(said, r#"prompt greet with {"name": "Ada"}"#, "{}", got.body);
        let read = mcp.call(6, "resources/read", json!({"uri": uri})).await;
        assert_eq!(read.body["result"]["contents"][0]["uri"], uri.as_str(), "{}", read.body);
        assert_eq!(read.body["result"]["contents"][0]["text"], "contents of notes://readme", "{}", read.body);
        let completion = json!({"ref": {"type": "ref/prompt", "name": "rm__fx__greet"},
                                "argument": {"name": "name", "value": "A"}});
        let completed = mcp.call(7, "completion/complete", completion).await;
        assert!(completed.body["result"]["completion"]["values"].is_array(), "{}", completed.body);
        // Subscribed through her own connection: the upstream's update reaches her session.
        let (session, mut heard) = open_get_stream_of(gateway.mcp("gateway", Some(&ada.access), None)).await;
        let subscribed = session.call(11, "resources/subscribe", json!({"uri": uri})).await;
        assert_eq!(subscribed.body["error"], Value::Null, "{}", subscribed.body);
        let updated = expect_chunk(&mut heard, "notifications/resources/updated").await;
        assert!(updated.contains(&format!(r#""uri":"{uri}""#)), "under the URI she knows: {updated}");
        let unsubscribed = session.call(12, "resources/unsubscribe", json!({"uri": uri})).await;
        assert_eq!(unsubscribed.body["error"], Value::Null, "{}", unsubscribed.body);
        let wanted = ["prompts/get fx__greet", "resources/read fx+notes://readme", "completion/complete fx__greet"];
        eventually("the remote records Ada's own get, read and completion", async || {
            let asked = asked_at_remote_by(&remote, "ada@remote.example").await;
            wanted.iter().all(|name| asked.iter().any(|a| a == name))
        }).await;

        // Bob, signed in but not connected, is still asked to connect: Ada's connection is hers.
        let bob = gateway.sign_in("gateway", "bob@people.example").await;
        let bobs = gateway.mcp("gateway", Some(&bob.access), None);
        let bob_greet = json!({"name": "rm__fx__greet", "arguments": {"name": "Bob"}});
        let refused = bobs.call(8, "prompts/get", bob_greet.clone()).await;
        assert!(error_text(&refused.body).contains("not connected yet"), "{}", refused.body);
        // Nor can he subscribe through anyone's account but his own.
        let (bob_session, _) = open_get_stream_of(gateway.mcp("gateway", Some(&bob.access), None)).await;
        let refused = bob_session.call(13, "resources/subscribe", json!({"uri": uri})).await;
        assert!(error_text(&refused.body).contains("not connected yet"), "{}", refused.body);
        // His client opens URLs: the 2026-07-28 era's `input_required` round asks him to
        // connect, for a get as for a read.
        let opens_urls = json!({"elicitation": {"url": {}}});
        for (id, method, params) in [(9, "prompts/get", bob_greet), (10, "resources/read", json!({"uri": uri}))] {
            let asked = bobs.call_declaring(id, method, params, opens_urls.clone()).await;
            let result = &asked.body["result"];
            assert_eq!(result["resultType"], "input_required", "{method}: {}", asked.body);
            let request = &result["inputRequests"]["connect"];
            assert_eq!((&request["method"], &request["params"]["mode"]), (&json!("elicitation/create"), &json!("url")), "{}", asked.body);
            let url = request["params"]["url"].as_str().unwrap_or_default();
            assert!(url.starts_with(&format!("{}/connect/gpc_", platform_origin(&gateway))), "{}", asked.body);
        }

        // The gateway records each get with the person who asked.
        let recorded = gateway.app.wait_for_tool_calls(&gateway.tenant, 8).await;
        let ok = recorded.iter().find(|c| c["tool_name"] == "prompts/get rm__fx__greet" && c["is_error"] == false);
        let ok = ok.unwrap_or_else(|| panic!("{recorded:?}"));
        assert!(ok["end_user_id"].as_str().is_some_and(|id| id.starts_with("msu_")), "{ok}");
    }
}
