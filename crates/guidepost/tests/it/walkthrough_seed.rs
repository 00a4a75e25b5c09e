//! The behaviours of seeds/003 (walkthrough tools) not covered by the user stories,
//! proven at tool level through the MCP endpoint: the server's flag hides the tools but
//! not `get_support`; draft and archived walkthroughs are invisible and archived progress
//! comes back; a completed walkthrough offers a restart; `next` and `status` without
//! progress; `reset` asks for confirmation; walkthroughs of other servers and other
//! organizations are refused by every tool without creating progress; listing 25
//! walkthroughs costs as many statements as listing 5; `next` without an id skips
//! walkthroughs the server no longer offers; and every result validates against its
//! tool's `outputSchema`, with the annotations the product gives them.

use guidepost_core::walkthroughs::authoring::{self, CreateStep, CreateWalkthrough};
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Answer, RawMcp, Tenant, TestApp, personal_client, unlimited_app_with_server};

fn text(answer: &Answer) -> &str {
    answer.body["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

fn ids(list: &Answer) -> Vec<String> {
    let items = list.structured()["walkthroughs"].as_array().unwrap();
    items
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn tools(mcp: &RawMcp) -> Vec<Value> {
    let listed = mcp.call(900, "tools/list", json!({})).await;
    listed.body["result"]["tools"].as_array().unwrap().clone()
}

fn names(tools: &[Value]) -> Vec<&str> {
    tools.iter().map(|t| t["name"].as_str().unwrap()).collect()
}

const WALKTHROUGH_TOOLS: [&str; 5] = [
    "list_walkthroughs",
    "select_walkthrough",
    "next_walkthrough_step",
    "get_walkthrough_status",
    "reset_walkthrough_progress",
];

/// `PATCH /walkthroughs/{id}` with a new status.
async fn set_status(app: &TestApp, tenant: &Tenant, walkthrough: &str, status: &str) {
    let path = format!("/walkthroughs/{walkthrough}");
    let body = Some(json!({"status": status}));
    let (code, updated) = app.api(Method::PATCH, &path, &tenant.key, body).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["status"], status);
}

/// The refusal every tool gives for a walkthrough the server does not offer.
fn not_available(id: &str) -> String {
    format!("Walkthrough {id} is not available on this server. Call list_walkthroughs")
}

/// The least number of statements one `list_walkthroughs` call runs, of three (the
/// analytics writer shares the store and may flush during a call, which only adds).
async fn list_cost(app: &TestApp, mcp: &RawMcp) -> u64 {
    let mut least = u64::MAX;
    for attempt in 0..3 {
        let before = app.store.statements_executed();
        let answer = mcp.call_tool(attempt, "list_walkthroughs", json!({})).await;
        let after = app.store.statements_executed();
        answer.structured();
        least = least.min(after - before);
    }
    least
}

/// Seeds `count` one-step walkthroughs on a new server of a new tenant, has one person
/// start each, and returns the listed ids, the ids in the order expected, and the
/// statements of one listing.
async fn listing_of(app: &TestApp, slug: &str, count: usize) -> (Vec<String>, Vec<String>, u64) {
    let tenant = app.create_tenant(slug).await;
    let server = app.create_server(&tenant, slug, json!({})).await;
    let server = server["id"].as_str().unwrap();
    let mcp = personal_client(app, slug, "lister");
    let mut seeded = Vec::new();
    for i in 0..count {
        // Display orders fall as creation goes on, two walkthroughs share each order and
        // the title breaks the tie: neither creation order nor title alone gives the list.
        let order = ((count - 1 - i) / 2) as i64;
        let title = format!("Walkthrough {i:02}");
        let w = app
            .seed_walkthrough(&tenant, &title, 1, Some((server, order)))
            .await;
        let started = mcp
            .call_tool(
                i as i64,
                "select_walkthrough",
                json!({"walkthrough_id": w.id}),
            )
            .await;
        assert_eq!(started.structured()["progress"]["status"], "in_progress");
        seeded.push(((order, title), w.id));
    }
    seeded.sort();
    let expected = seeded.into_iter().map(|(_, id)| id).collect();
    let listed = mcp.call_tool(100, "list_walkthroughs", json!({})).await;
    for item in listed.structured()["walkthroughs"].as_array().unwrap() {
        assert_eq!(item["progress"]["status"], "in_progress", "{item}");
    }
    (ids(&listed), expected, list_cost(app, &mcp).await)
}

/// What in `value` breaks `schema`, for the keywords the tools' output schemas use
/// (type, enum, anyOf, properties, required, additionalProperties, items, minimum,
/// maximum). Any other keyword is reported, so that nothing is skipped silently.
fn violations(schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let Some(rules) = schema.as_object() else {
        return vec![format!("{at}: the schema is not an object")];
    };
    let mut found = Vec::new();
    let fail = |found: &mut Vec<String>, why: String| found.push(format!("{at}: {why}"));
    for (keyword, rule) in rules {
        match keyword.as_str() {
            "description" | "title" | "default" | "format" => {}
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
                    other => other.as_str().into_iter().collect(),
                };
                if !types.iter().any(|t| has_type(value, t)) {
                    fail(&mut found, format!("{value} is not of type {rule}"));
                }
            }
            "enum" if !rule.as_array().unwrap().contains(value) => {
                fail(&mut found, format!("{value} is not one of {rule}"));
            }
            "enum" => {}
            "anyOf" => {
                let options = rule.as_array().unwrap();
                if !options.iter().any(|o| violations(o, value, at).is_empty()) {
                    fail(&mut found, format!("{value} matches no schema of anyOf"));
                }
            }
            "required" => {
                for name in rule.as_array().unwrap().iter().filter_map(Value::as_str) {
                    if value.as_object().is_some_and(|o| !o.contains_key(name)) {
                        fail(&mut found, format!("{name} is missing"));
                    }
                }
            }
            "properties" => {
                for (name, sub) in rule.as_object().unwrap() {
                    if let Some(v) = value.get(name).filter(|_| value.is_object()) {
                        found.extend(violations(sub, v, &format!("{at}.{name}")));
                    }
                }
            }
            "additionalProperties" => {
                let declared = rules.get("properties").and_then(Value::as_object);
                for name in value.as_object().map(|o| o.keys()).into_iter().flatten() {
                    if *rule == false && !declared.is_some_and(|d| d.contains_key(name)) {
                        fail(&mut found, format!("{name} is not allowed"));
                    }
                }
            }
            "items" => {
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    found.extend(violations(rule, item, &format!("{at}[{i}]")));
                }
            }
            "minimum" | "maximum" => {
                if let (Some(n), Some(bound)) = (value.as_f64(), rule.as_f64()) {
                    let (low, high) = (n < bound, n > bound);
                    if (keyword == "minimum" && low) || (keyword == "maximum" && high) {
                        fail(&mut found, format!("{n} breaks {keyword} {bound}"));
                    }
                }
            }
            other => fail(
                &mut found,
                format!("keyword {other} is unknown to this validator"),
            ),
        }
    }
    found
}

/// A named way to break a valid result.
type Breakage = (&'static str, fn(&mut Value));

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

backend_tests! {
    async fn flag_off_hides_the_walkthrough_tools_but_not_support(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "quiet", json!({"walkthrough_tools_enabled": false})).await;
        let w = app.seed_walkthrough(&tenant, "Assigned anyway", 2, Some((&server, 0))).await;
        let mcp = personal_client(&app, "quiet", "flagged");
        assert_eq!(names(&tools(&mcp).await), ["get_support"], "an enabled assignment is not enough");
        for (n, name) in WALKTHROUGH_TOOLS.iter().enumerate() {
            let refused = mcp.call_tool(n as i64, name, json!({"walkthrough_id": w.id})).await;
            assert_eq!(refused.body["error"]["code"], -32602, "{name}: {}", refused.body);
            let message = refused.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(&format!("Unknown tool: {name}")) && message.contains("tools/list"), "{message}");
        }
        let support = mcp.call_tool(9, "get_support", json!({"title": "Stuck", "problem_description": "It fails", "email": "ada@example.com"})).await;
        assert_eq!(support.structured()["status"], "open");
        assert!(support.structured()["support_request_id"].as_str().unwrap().starts_with("sr_"), "{}", support.body);

        // The flag alone was hiding them.
        let (code, _) = app.api(Method::PATCH, &format!("/servers/{server}"), &tenant.key, Some(json!({"walkthrough_tools_enabled": true}))).await;
        assert_eq!(code, 200);
        let shown = tools(&mcp).await;
        assert_eq!(names(&shown)[..5], WALKTHROUGH_TOOLS);
        assert_eq!(names(&shown)[5..], ["get_support"]);
        let listed = mcp.call_tool(10, "list_walkthroughs", json!({})).await;
        assert_eq!(ids(&listed), [w.id.as_str()]);
    }

    async fn draft_and_archived_are_invisible_and_archived_progress_returns(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let (platform, org) = (&app.app.platform, tenant.org.clone());
        let visible = app.seed_walkthrough(&tenant, "Visible", 1, Some((&server, 0))).await;
        let input = CreateWalkthrough { title: "Never published".into(), description: None, tags: None, estimated_duration_minutes: None, metadata: None };
        let draft = authoring::create(platform, &crate::helpers::operator(&org), input, None).await.unwrap();
        let step = CreateStep { title: "Draft step".into(), content: "Not yet".into(), section_title: None, after_step_id: None };
        authoring::add_step(platform, &crate::helpers::operator(&org), &draft.id, step).await.unwrap();
        let server_id = guidepost_domain::Id::parse(&server).unwrap();
        authoring::assign(platform, &crate::helpers::operator(&org), &server_id, &draft.id, Default::default()).await.unwrap();
        let unpublished = app.seed_walkthrough(&tenant, "Back to draft", 2, Some((&server, 1))).await;
        set_status(&app, &tenant, &unpublished.id, "draft").await;
        let archived = app.seed_walkthrough(&tenant, "To archive", 3, Some((&server, 2))).await;

        let mcp = personal_client(&app, "acme", "archivist");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": archived.id})).await.structured();
        let moved = mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": archived.id, "current_step_id": archived.step_ids[0]})).await;
        assert_eq!(moved.structured()["step"]["id"], archived.step_ids[1]);
        set_status(&app, &tenant, &archived.id, "archived").await;

        assert_eq!(ids(&mcp.call_tool(3, "list_walkthroughs", json!({})).await), [visible.id.as_str()]);
        for hidden in [draft.id.to_string(), unpublished.id.clone(), archived.id.clone()] {
            let refused = mcp.call_tool(4, "select_walkthrough", json!({"walkthrough_id": hidden})).await;
            assert!(refused.tool_error_text().starts_with(&not_available(&hidden)), "{}", refused.body);
        }
        let next = mcp.call_tool(5, "next_walkthrough_step", json!({"walkthrough_id": archived.id})).await;
        assert!(next.tool_error_text().starts_with(&not_available(&archived.id)));

        // Published again: the progress is where it was, nothing was advanced meanwhile.
        set_status(&app, &tenant, &archived.id, "published").await;
        let listed = mcp.call_tool(6, "list_walkthroughs", json!({})).await;
        assert_eq!(ids(&listed), [visible.id.as_str(), archived.id.as_str()]);
        let progress = &listed.structured()["walkthroughs"][1]["progress"];
        assert_eq!(progress["status"], "in_progress");
        assert_eq!(progress["completed_count"], 1);
        assert_eq!(progress["current_step_id"], archived.step_ids[1]);
        let resumed = mcp.call_tool(7, "select_walkthrough", json!({"walkthrough_id": archived.id})).await;
        assert_eq!(resumed.structured()["resumed"], true);
        assert_eq!(resumed.structured()["step"]["id"], archived.step_ids[1]);
        assert_eq!(resumed.structured()["step"]["position"], 2);
    }

    async fn selecting_a_completed_walkthrough_says_so_and_offers_a_restart(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Short", 2, Some((&server, 0))).await;
        let mcp = personal_client(&app, "acme", "finisher");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();
        let done = mcp.call_tool(3, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await;
        assert_eq!(done.structured()["completed_now"], true);

        let again = mcp.call_tool(4, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        let result = again.structured();
        assert_eq!(result["resumed"], true);
        assert_eq!(result["step"], Value::Null, "no step to show");
        assert_eq!(result["progress"]["status"], "completed");
        assert_eq!(result["progress"]["percent"], 100);
        assert_eq!(result["progress"]["completed_count"], 2);
        assert_eq!(result["progress"]["current_step_id"], Value::Null);
        let said = text(&again);
        assert!(said.contains("has completed the walkthrough \"Short\""), "{said}");
        assert!(said.contains("select_walkthrough with resume_if_exists=false"), "the restart is offered: {said}");
        assert!(!said.contains("BEGIN STEP CONTENT"), "no step is shown: {said}");

        // Taking the offer restarts at step 1.
        let restarted = mcp.call_tool(5, "select_walkthrough", json!({"walkthrough_id": w.id, "resume_if_exists": false})).await;
        assert_eq!(restarted.structured()["resumed"], false);
        assert_eq!(restarted.structured()["step"]["id"], w.step_ids[0]);
        assert_eq!(restarted.structured()["progress"]["status"], "in_progress");
        assert_eq!(restarted.structured()["progress"]["completed_count"], 0);
    }

    async fn next_without_progress_tells_the_agent_what_to_call(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 1, Some((&server, 0))).await;
        let mcp = personal_client(&app, "acme", "fresh");
        let refused = mcp.call_tool(1, "next_walkthrough_step", json!({})).await;
        let said = refused.tool_error_text();
        assert!(said.starts_with("There is no walkthrough in progress on this server."), "{said}");
        assert!(said.contains("Call list_walkthroughs, then select_walkthrough"), "{said}");
        let named = mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await;
        let said = named.tool_error_text();
        assert!(said.contains(&format!("You have not started walkthrough {}", w.id)) && said.contains("Call select_walkthrough"), "{said}");
        let status = mcp.call_tool(3, "get_walkthrough_status", json!({"walkthrough_id": w.id})).await;
        assert_eq!(status.structured()["progress"]["status"], "not_started", "refusals create no progress");

        // A completed walkthrough is not "in progress" either.
        mcp.call_tool(4, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        mcp.call_tool(5, "next_walkthrough_step", json!({})).await.structured();
        let after = mcp.call_tool(6, "next_walkthrough_step", json!({})).await;
        assert!(after.tool_error_text().starts_with("There is no walkthrough in progress"));
    }

    async fn status_without_progress_shows_every_step_to_do(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 3, Some((&server, 0))).await;
        let mcp = personal_client(&app, "acme", "looker");
        let status = mcp.call_tool(1, "get_walkthrough_status", json!({"walkthrough_id": w.id})).await;
        let result = status.structured();
        assert_eq!(result["walkthrough"], json!({"id": w.id, "title": "Intro", "version": 1, "latest_version": 1}));
        let steps: Vec<(&str, &str)> = result["steps"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap(), s["state"].as_str().unwrap())).collect();
        assert_eq!(steps, w.step_ids.iter().map(|id| (id.as_str(), "todo")).collect::<Vec<_>>());
        assert_eq!(result["progress"], json!({"status": "not_started", "completed_count": 0, "total_steps": 3, "percent": 0,
            "current_step_id": null, "version": 1, "latest_version": 1}));
        assert!(text(&status).contains("0 of 3 steps done (0%), status not_started."), "{}", text(&status));
        let listed = mcp.call_tool(2, "list_walkthroughs", json!({})).await;
        assert_eq!(listed.structured()["walkthroughs"][0]["progress"], Value::Null, "looking starts nothing");
    }

    async fn reset_needs_confirmation_then_restarts_at_step_one(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Intro", 3, Some((&server, 0))).await;
        let mcp = personal_client(&app, "acme", "resetter");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": w.id})).await.structured();
        mcp.call_tool(2, "next_walkthrough_step", json!({"walkthrough_id": w.id})).await.structured();

        for (id, arguments) in [(3, json!({"walkthrough_id": w.id})), (4, json!({"walkthrough_id": w.id, "confirm": false}))] {
            let asked = mcp.call_tool(id, "reset_walkthrough_progress", arguments).await;
            assert_eq!(asked.structured(), &json!({"walkthrough_id": w.id, "reset": false}));
            let said = text(&asked);
            assert!(said.starts_with("Nothing was changed.") && said.contains("confirm=true") && said.contains("Ask the user"), "{said}");
        }
        let kept = mcp.call_tool(5, "get_walkthrough_status", json!({"walkthrough_id": w.id})).await;
        assert_eq!(kept.structured()["progress"]["completed_count"], 1);
        assert_eq!(kept.structured()["progress"]["current_step_id"], w.step_ids[1]);

        let reset = mcp.call_tool(6, "reset_walkthrough_progress", json!({"walkthrough_id": w.id, "confirm": true})).await;
        assert_eq!(reset.structured(), &json!({"walkthrough_id": w.id, "reset": true}));
        assert!(text(&reset).contains("progress was deleted"), "{}", text(&reset));
        let gone = mcp.call_tool(7, "list_walkthroughs", json!({})).await;
        assert_eq!(gone.structured()["walkthroughs"][0]["progress"], Value::Null);
        let twice = mcp.call_tool(8, "reset_walkthrough_progress", json!({"walkthrough_id": w.id, "confirm": true})).await;
        assert_eq!(twice.structured()["reset"], false);
        assert!(text(&twice).contains("no progress"), "{}", text(&twice));
        let fresh = mcp.call_tool(9, "select_walkthrough", json!({"walkthrough_id": w.id})).await;
        assert_eq!(fresh.structured()["resumed"], false);
        assert_eq!(fresh.structured()["step"]["id"], w.step_ids[0]);
        assert_eq!(fresh.structured()["progress"]["completed_count"], 0);
    }

    async fn other_servers_and_organizations_walkthroughs_are_refused(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let mine = app.seed_walkthrough(&tenant, "Mine", 2, Some((&server, 0))).await;
        let unassigned = app.seed_walkthrough(&tenant, "Unassigned", 2, None).await;
        let rival = app.create_tenant("Rival").await;
        let rival_server = app.create_server(&rival, "rival", json!({})).await;
        let foreign = app.seed_walkthrough(&rival, "Foreign", 2, Some((rival_server["id"].as_str().unwrap(), 0))).await;
        let mcp = personal_client(&app, "acme", "prober");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": mine.id})).await.structured();

        for other in [&unassigned, &foreign] {
            let id = &other.id;
            let calls = [
                ("select_walkthrough", json!({"walkthrough_id": id})),
                ("select_walkthrough", json!({"walkthrough_id": id, "resume_if_exists": false})),
                ("next_walkthrough_step", json!({"walkthrough_id": id})),
                ("next_walkthrough_step", json!({"walkthrough_id": id, "current_step_id": other.step_ids[0]})),
                ("get_walkthrough_status", json!({"walkthrough_id": id})),
                ("reset_walkthrough_progress", json!({"walkthrough_id": id, "confirm": true})),
                ("reset_walkthrough_progress", json!({"walkthrough_id": id})),
            ];
            for (n, (name, arguments)) in calls.into_iter().enumerate() {
                let refused = mcp.call_tool(10 + n as i64, name, arguments).await;
                let said = refused.tool_error_text();
                assert!(said.starts_with(&not_available(id)), "{name}: {said}");
            }
        }
        let listed = mcp.call_tool(20, "list_walkthroughs", json!({})).await;
        assert_eq!(ids(&listed), [mine.id.as_str()]);
        let (_, users) = app.get("/end-users?tracking_id=prober", &tenant.key).await;
        let user = guidepost_domain::Id::parse(users["items"][0]["id"].as_str().unwrap()).unwrap();
        let progress = app.store.list_progress_of_end_user(&tenant.org, &user, 100).await.unwrap();
        let walked: Vec<String> = progress.iter().map(|p| p.walkthrough_id.to_string()).collect();
        assert_eq!(walked, [mine.id.as_str()], "the refusals created no progress");
        let status = mcp.call_tool(21, "get_walkthrough_status", json!({"walkthrough_id": mine.id})).await;
        assert_eq!(status.structured()["progress"]["current_step_id"], mine.step_ids[0], "nor moved any");
    }

    async fn listing_25_walkthroughs_is_ordered_and_costs_what_5_cost(db: &TestDatabase) {
        let (app, _, _) = unlimited_app_with_server(db, "unused", json!({})).await;
        let (small, small_expected, small_cost) = listing_of(&app, "five", 5).await;
        let (large, large_expected, large_cost) = listing_of(&app, "twenty-five", 25).await;
        assert_eq!(small, small_expected);
        assert_eq!(large.len(), 25, "nothing is cut off");
        assert_eq!(large, large_expected, "display order, then title");
        println!("statements of list_walkthroughs: {small_cost} (5 walkthroughs), {large_cost} (25)");
        assert_eq!(small_cost, large_cost, "statements at 5 and 25 walkthroughs");
        assert!((1..=6).contains(&large_cost), "a handful of statements: {large_cost}");
    }

    async fn next_without_id_skips_walkthroughs_no_longer_offered(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let older = app.seed_walkthrough(&tenant, "Older", 3, Some((&server, 0))).await;
        let recent = app.seed_walkthrough(&tenant, "Recent", 3, Some((&server, 1))).await;
        let untouched = app.seed_walkthrough(&tenant, "Untouched", 1, Some((&server, 2))).await;
        let mcp = personal_client(&app, "acme", "switcher");
        mcp.call_tool(1, "select_walkthrough", json!({"walkthrough_id": older.id})).await.structured();
        mcp.call_tool(2, "select_walkthrough", json!({"walkthrough_id": recent.id})).await.structured();
        let unassign = |w: &str| format!("/servers/{server}/walkthroughs/{w}");
        let (code, _) = app.api(Method::DELETE, &unassign(&recent.id), &tenant.key, None).await;
        assert!(code.is_success(), "{code}");

        let next = mcp.call_tool(3, "next_walkthrough_step", json!({})).await;
        let result = next.structured();
        assert_eq!(result["walkthrough"]["id"], older.id, "the most recent one still offered");
        assert_eq!(result["step"]["id"], older.step_ids[1]);
        assert_eq!(result["progress"]["completed_count"], 1);

        // Nothing in progress is offered any more: the agent is told what to do.
        let (code, _) = app.api(Method::DELETE, &unassign(&older.id), &tenant.key, None).await;
        assert!(code.is_success(), "{code}");
        let none = mcp.call_tool(4, "next_walkthrough_step", json!({})).await;
        let said = none.tool_error_text();
        assert!(said.starts_with("There is no walkthrough in progress on this server.") && said.contains("select_walkthrough"), "{said}");
        assert_eq!(ids(&mcp.call_tool(5, "list_walkthroughs", json!({})).await), [untouched.id.as_str()]);

        // The skipped progress was kept: assigned again, the default is the recent one again.
        let back = authoring::AssignWalkthrough { display_order: Some(1), is_enabled: Some(true) };
        authoring::assign(&app.app.platform, &crate::helpers::operator(&tenant.org), &guidepost_domain::Id::parse(&server).unwrap(),
            &guidepost_domain::Id::parse(&recent.id).unwrap(), back).await.unwrap();
        let resumed = mcp.call_tool(6, "next_walkthrough_step", json!({})).await;
        assert_eq!(resumed.structured()["walkthrough"]["id"], recent.id);
        assert_eq!(resumed.structured()["step"]["id"], recent.step_ids[1]);
    }

    async fn every_result_matches_its_output_schema_and_annotations(db: &TestDatabase) {
        let (app, tenant, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let w = app.seed_walkthrough(&tenant, "Checked", 2, Some((&server, 0))).await;
        app.seed_walkthrough(&tenant, "Other", 1, Some((&server, 1))).await;
        let mcp = personal_client(&app, "acme", "validator");
        let listed = tools(&mcp).await;
        // List and status are read-only, reset is destructive. Also: select can
        // discard progress (resume_if_exists=false); next advances on every call without
        // current_step_id; none of them reaches outside the platform.
        let expected = [
            ("list_walkthroughs", true, false, true),
            ("select_walkthrough", false, true, true),
            ("next_walkthrough_step", false, false, false),
            ("get_walkthrough_status", true, false, true),
            ("reset_walkthrough_progress", false, true, true),
        ];
        for (name, read_only, destructive, idempotent) in expected {
            let tool = listed.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} listed"));
            let hints = &tool["annotations"];
            assert_eq!((&hints["readOnlyHint"], &hints["destructiveHint"], &hints["idempotentHint"], &hints["openWorldHint"]),
                (&json!(read_only), &json!(destructive), &json!(idempotent), &json!(false)), "{name}: {hints}");
            assert!(tool["title"].is_string() && tool["outputSchema"]["type"] == "object", "{name}: {tool}");
        }

        let id = &w.id;
        let journey = [
            ("list_walkthroughs", json!({})),
            ("get_walkthrough_status", json!({"walkthrough_id": id})),
            ("reset_walkthrough_progress", json!({"walkthrough_id": id, "confirm": true})),
            ("select_walkthrough", json!({"walkthrough_id": id})),
            ("select_walkthrough", json!({"walkthrough_id": id})),
            ("list_walkthroughs", json!({})),
            ("next_walkthrough_step", json!({"walkthrough_id": id, "current_step_id": w.step_ids[0]})),
            ("next_walkthrough_step", json!({"walkthrough_id": id, "current_step_id": w.step_ids[0]})),
            ("get_walkthrough_status", json!({"walkthrough_id": id})),
            ("next_walkthrough_step", json!({})),
            ("next_walkthrough_step", json!({"walkthrough_id": id})),
            ("select_walkthrough", json!({"walkthrough_id": id})),
            ("get_walkthrough_status", json!({"walkthrough_id": id})),
            ("list_walkthroughs", json!({})),
            ("reset_walkthrough_progress", json!({"walkthrough_id": id})),
            ("reset_walkthrough_progress", json!({"walkthrough_id": id, "confirm": true})),
        ];
        let mut results = Vec::new();
        for (n, (name, arguments)) in journey.into_iter().enumerate() {
            let answer = mcp.call_tool(n as i64, name, arguments).await;
            let schema = &listed.iter().find(|t| t["name"] == name).unwrap()["outputSchema"];
            let structured = answer.structured();
            assert_eq!(violations(schema, structured, name), Vec::<String>::new(), "call {n}: {structured}");
            assert_eq!(answer.body["result"]["content"][0]["type"], "text");
            assert!(!text(&answer).is_empty(), "call {n} ({name}) has a text for the agent");
            results.push((name, structured.clone()));
        }
        // The journey reached the shapes that matter: a null step, and both completions.
        assert_eq!(results[9].1["completed_now"], true);
        assert_eq!(results[10].1["already_completed"], true);
        assert_eq!(results[11].1["step"], Value::Null);
        assert_eq!(results[5].1["walkthroughs"][0]["progress"]["status"], "in_progress");

        // The validator sees what a wrong result would get wrong.
        let select = &listed.iter().find(|t| t["name"] == "select_walkthrough").unwrap()["outputSchema"];
        let good = results[3].1.clone();
        let breakages: [Breakage; 5] = [
            ("position 0", |v| v["step"]["position"] = json!(0)),
            ("unknown status", |v| v["progress"]["status"] = json!("paused")),
            ("missing resumed", |v| { v.as_object_mut().unwrap().remove("resumed"); }),
            ("step of the wrong type", |v| v["step"] = json!("ws_x")),
            ("percent as text", |v| v["progress"]["percent"] = json!("0")),
        ];
        for (what, breaks) in breakages {
            let mut bad = good.clone();
            breaks(&mut bad);
            assert!(!violations(select, &bad, "select").is_empty(), "{what} is caught");
        }
    }
}
