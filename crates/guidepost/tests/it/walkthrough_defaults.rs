//! Which walkthrough `next_walkthrough_step` means when the call names none:
//! retrying a step already done returns the present state of the walkthrough that step
//! belongs to, even once it is completed or while another is in progress; and resuming
//! a walkthrough makes it the most recently active one.

use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::helpers::{RawMcp, personal_client, unlimited_app_with_server};

async fn next(mcp: &RawMcp, id: i64, arguments: Value) -> Value {
    let answer = mcp.call_tool(id, "next_walkthrough_step", arguments).await;
    answer.structured().clone()
}

async fn select(mcp: &RawMcp, id: i64, walkthrough: &str) -> Value {
    let arguments = json!({"walkthrough_id": walkthrough});
    let answer = mcp.call_tool(id, "select_walkthrough", arguments).await;
    answer.structured().clone()
}

backend_tests! {
    async fn retrying_the_last_step_without_an_id_returns_the_completed_state(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Two steps", 2, Some((&server, 0))).await;
        let other = app.seed_walkthrough(&tenant, "Other", 3, Some((&server, 1))).await;
        let (first, last) = (&w.step_ids[0], &w.step_ids[1]);

        // Alone: the step that completed the walkthrough, retried without its id.
        let alone = personal_client(&app, "acme", "alone");
        select(&alone, 1, &w.id).await;
        next(&alone, 2, json!({"current_step_id": first})).await;
        let completing = next(&alone, 3, json!({"current_step_id": last})).await;
        assert_eq!(completing["completed_now"], true);
        let retried = next(&alone, 4, json!({"current_step_id": last})).await;
        assert_eq!(retried["walkthrough"]["id"], w.id);
        assert_eq!(retried["already_completed"], true);
        assert_eq!(retried["completed_now"], false);
        assert_eq!(retried["progress"]["status"], "completed");
        assert_eq!(retried["progress"]["completed_count"], 2);
        assert_eq!(retried["step"], Value::Null);

        // With another walkthrough in progress, started after this one was completed.
        let busy = personal_client(&app, "acme", "busy");
        select(&busy, 1, &w.id).await;
        next(&busy, 2, json!({"current_step_id": first})).await;
        // A retry of a step done while the other is the most recently active.
        select(&busy, 3, &other.id).await;
        let early = next(&busy, 4, json!({"current_step_id": first})).await;
        assert_eq!(early["walkthrough"]["id"], w.id, "{early}");
        assert_eq!(early["already_completed"], true);
        assert_eq!(early["step"]["id"], last.as_str(), "the present state: the step still to do");
        next(&busy, 5, json!({"walkthrough_id": w.id, "current_step_id": last})).await;
        select(&busy, 6, &other.id).await;
        let retried = next(&busy, 7, json!({"current_step_id": last})).await;
        assert_eq!(retried["walkthrough"]["id"], w.id, "{retried}");
        assert_eq!(retried["already_completed"], true);
        assert_eq!(retried["progress"]["status"], "completed");
        // The other walkthrough was not touched, and stays the default without a step.
        let moved = next(&busy, 8, json!({})).await;
        assert_eq!(moved["walkthrough"]["id"], other.id);
        assert_eq!(moved["step"]["id"], other.step_ids[1]);
        assert_eq!(moved["progress"]["completed_count"], 1);
    }

    async fn resuming_a_walkthrough_makes_it_the_default_for_next(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let a = app.seed_walkthrough(&tenant, "A", 3, Some((&server, 0))).await;
        let b = app.seed_walkthrough(&tenant, "B", 3, Some((&server, 1))).await;
        let mcp = personal_client(&app, "acme", "switcher");
        select(&mcp, 1, &a.id).await;
        select(&mcp, 2, &b.id).await;
        let resumed = select(&mcp, 3, &a.id).await;
        assert_eq!(resumed["resumed"], true);

        let moved = next(&mcp, 4, json!({})).await;
        assert_eq!(moved["walkthrough"]["id"], a.id, "the walkthrough resumed last: {moved}");
        assert_eq!(moved["step"]["id"], a.step_ids[1]);
        let untouched = mcp.call_tool(5, "get_walkthrough_status", json!({"walkthrough_id": b.id})).await;
        assert_eq!(untouched.structured()["progress"]["completed_count"], 0);
    }
}
