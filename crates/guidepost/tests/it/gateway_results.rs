//! What an upstream's tool result may carry to an agent: control, invisible and
//! bidirectional characters are stripped, as from walkthrough content, unless the
//! organization keeps results raw; a result that carried any is recorded as a finding
//! about its upstream, once per hour.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::fixture;

/// Zero-width space, right-to-left override, a tag character, and a terminal title
/// escape (ESC ... BEL): 5 hidden characters around visible text.
const SNEAKY: &str = "Done.\u{200B}\u{202E}\u{E0049}gnore\u{1b}]0;owned\u{7}\nnext";
const VISIBLE: &str = "Done.gnore]0;owned\nnext";

fn text_of(answer: &Value) -> String {
    answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a text result: {answer}"))
        .to_owned()
}

backend_tests! {
    async fn hidden_characters_in_upstream_results_are_stripped_and_recorded_once(db: &TestDatabase) {
        let f = fixture(db, "acme", 10_000).await;
        let answer = f.mcp.call_tool(1, "fx__echo", json!({"message": SNEAKY})).await;
        assert_eq!(text_of(&answer.body), VISIBLE);
        let again = f.mcp.call_tool(2, "fx__echo", json!({"message": SNEAKY})).await;
        assert_eq!(text_of(&again.body), VISIBLE);
        let clean = f.mcp.call_tool(3, "fx__echo", json!({"message": "plain"})).await;
        assert_eq!(text_of(&clean.body), "plain");

        let recorded = f.app.wait_for_tool_calls(&f.acme, 3).await;
        for call in &recorded {
            let summary = call["result_summary"].as_str().unwrap_or_default();
            assert!(!summary.contains('\u{200B}') && !summary.contains('\u{1b}'), "stored stripped: {call}");
        }

        let (status, audit) = f.app.get("/audit-events", &f.acme.key).await;
        assert_eq!(status, StatusCode::OK);
        let findings: Vec<&Value> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|event| event["action"] == "upstream.result_hidden_characters")
            .collect();
        assert_eq!(findings.len(), 1, "one finding per upstream per hour, not per call: {audit}");
        assert_eq!(findings[0]["upstream_id"], f.upstream.as_str());
        assert_eq!(findings[0]["tool"], "echo");
        assert_eq!(findings[0]["actor"], "platform");
        assert_eq!(findings[0]["detail"]["hidden_characters"], 5);
        assert_eq!(findings[0]["detail"]["kept_raw"], false);
    }

    async fn an_organization_may_keep_upstream_results_raw(db: &TestDatabase) {
        let f = fixture(db, "acme", 10_000).await;
        let (status, org) = f
            .app
            .api(Method::PATCH, "/organization", &f.acme.key, Some(json!({"raw_tool_results": true})))
            .await;
        assert_eq!(status, StatusCode::OK, "{org}");
        assert_eq!(org["raw_tool_results"], true);
        let answer = f.mcp.call_tool(1, "fx__echo", json!({"message": SNEAKY})).await;
        assert_eq!(text_of(&answer.body), SNEAKY, "kept as the upstream sent it");

        let (_, audit) = f.app.get("/audit-events", &f.acme.key).await;
        let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
        assert!(actions.contains(&"organization.raw_tool_results"), "{actions:?}");
        let finding = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|event| event["action"] == "upstream.result_hidden_characters")
            .expect("still a finding");
        assert_eq!(finding["detail"]["kept_raw"], true);

        let (status, _) = f
            .app
            .api(Method::PATCH, "/organization", &f.acme.key, Some(json!({"raw_tool_results": "yes"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a boolean or nothing");
    }
}
