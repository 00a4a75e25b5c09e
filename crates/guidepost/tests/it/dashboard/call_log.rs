//! The tool-call log and the analytics page's range, export and error-rate links: the
//! log filters by person and by errors; a picked day shows that day's calls; the
//! CSV holds the report; every error rate opens the log of those failures. And the reports
//! and the person page cost the same statements whatever the number of calls (they read
//! rollups and one indexed page, never every call).

use std::sync::Arc;

use guidepost::config::Settings;
use guidepost_core::Platform;
use guidepost_core::accounts::end_users;
use guidepost_core::insights::analytics::{self, BucketWidth};
use guidepost_domain::*;
use guidepost_store::Store;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::json;

use super::analytics::table_rows;
use super::{dashboard_app, member};

const OWNER: &str = "owner@acme.example";

/// A call `seconds_ago` in the past by `person`, failing with `summary` when `error`.
fn call(
    org: &OrgId,
    server: &ServerId,
    person: &EndUserId,
    tool: &str,
    error: bool,
    seconds_ago: i64,
) -> ToolCall {
    ToolCall {
        id: ToolCallId::generate(),
        org_id: org.clone(),
        server_id: server.clone(),
        session_id: None,
        end_user_id: Some(person.clone()),
        tool_name: tool.into(),
        arguments: "{}".into(),
        result_summary: format!("{tool} by {person} {}", if error { "failed" } else { "ok" }),
        is_error: error,
        error_code: error.then_some(-32603),
        duration_us: 1_500,
        created_at: Timestamp::now().plus_seconds(-seconds_ago),
        upstream_id: None,
        is_test: false,
        refusal: None,
    }
}

async fn person(store: &Arc<dyn Store>, org: &OrgId, tracking_id: &str) -> EndUserId {
    store
        .end_user_for_tracking_id(org, tracking_id, Timestamp::now())
        .await
        .unwrap()
        .id
}

/// The target of the first link whose HTML starts with `marker` (up to its href's value),
/// as a browser reads it.
fn link(body: &str, marker: &str) -> String {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker}: {body}"))
        + marker.len();
    let end = start + body[start..].find('"').unwrap();
    body[start..end].replace("&amp;", "&").replace("&#38;", "&")
}

async fn the_call_log_filters_by_person_and_errors(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let (org, store) = (&app.tenant.org, &app.app.store);
    let server = app.app.create_server(&app.tenant, "acme", json!({})).await;
    let server: ServerId = Id::parse(server["id"].as_str().unwrap()).unwrap();
    let ada = person(store, org, "ada").await;
    let bob = person(store, org, "bob").await;
    store
        .insert_tool_calls(&[
            call(org, &server, &ada, "search", false, 60),
            call(org, &server, &ada, "search", true, 120),
            call(org, &server, &ada, "lookup", false, 180),
            call(org, &server, &bob, "search", true, 240),
        ])
        .await
        .unwrap();
    let mut browser = member(&app, &app.tenant, OWNER, Role::Owner).await;

    // The log is in the main navigation, current on its page.
    let overview = browser.get("/app/").await;
    assert!(
        overview
            .ok()
            .contains("<li><a href=\"/app/tool-calls\">Tool calls</a></li>")
    );
    let everything = browser.get("/app/tool-calls").await;
    let current = "<li><a href=\"/app/tool-calls\" aria-current=\"page\">Tool calls</a></li>";
    assert!(everything.ok().contains(current), "{}", everything.body);
    assert_eq!(table_rows(everything.ok(), "call-log").len(), 4);
    let adas_failures = browser
        .get(&format!("/app/tool-calls?person={ada}&errors=on"))
        .await;
    let rows = table_rows(adas_failures.ok(), "call-log");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0]
            .iter()
            .any(|cell| cell.contains(&format!("search by {ada} failed"))),
        "{rows:?}"
    );
    let failures = browser.get("/app/tool-calls?errors=on").await;
    assert_eq!(table_rows(failures.ok(), "call-log").len(), 2);
    let paged = browser.get("/app/tool-calls?tool=search").await;
    assert_eq!(table_rows(paged.ok(), "call-log").len(), 3);

    let garbled = browser.get("/app/tool-calls?person=ada").await;
    assert_eq!(garbled.status, StatusCode::UNPROCESSABLE_ENTITY);
    let backwards = browser
        .get("/app/tool-calls?from=2026-01-02T00:00&to=2026-01-01T00:00")
        .await;
    assert_eq!(backwards.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn analytics_picks_days_exports_csv_and_links_error_rates_to_the_log(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let (org, store) = (&app.tenant.org, &app.app.store);
    let server = app.app.create_server(&app.tenant, "acme", json!({})).await;
    let server: ServerId = Id::parse(server["id"].as_str().unwrap()).unwrap();
    let ada = person(store, org, "ada").await;
    let three_days = 3 * 24 * 3600;
    store
        .insert_tool_calls(&[
            call(org, &server, &ada, "search", true, 60),
            call(org, &server, &ada, "lookup", false, three_days),
            call(org, &server, &ada, "lookup", false, three_days + 1),
        ])
        .await
        .unwrap();
    let mut browser = member(&app, &app.tenant, OWNER, Role::Owner).await;

    let day = Timestamp::now().plus_seconds(-three_days).to_rfc3339()[..10].to_owned();
    let picked = browser
        .get(&format!("/app/analytics?from={day}&to={day}"))
        .await;
    let tools = table_rows(picked.ok(), "tools-table");
    assert_eq!(tools.len(), 1, "only that day's calls: {tools:?}");
    assert_eq!(tools[0][..3], ["lookup", "2", "0"]);
    assert!(
        picked.body.contains(&format!("value=\"{day}\"")),
        "the picker keeps the day"
    );
    let too_long = browser
        .get("/app/analytics?from=2026-01-01&to=2026-03-01")
        .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);

    let today = browser.get("/app/analytics?days=1").await;
    let body = today.ok().to_owned();
    let errors = link(&body, "id=\"error-rate\" href=\"");
    assert!(errors.contains("errors=on"), "{errors}");
    let failed = browser.get(&errors).await;
    let rows = table_rows(failed.ok(), "call-log");
    assert_eq!(rows.len(), 1, "the error rate opens its failures: {rows:?}");

    let export = body
        .find("href=\"/app/analytics/export?")
        .expect("a CSV link");
    let csv = browser.get(&link(&body[export..], "href=\"")).await;
    let lines: Vec<&str> = csv.ok().lines().collect();
    assert!(
        lines[0].starts_with("tool,calls,errors,error_rate"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].starts_with("\"search\",1,1,1.0000,"), "{lines:?}");
}

/// Statements of the analytics reports and of a person's page, on a store of its own so
/// that nothing else adds to the count.
async fn statements_of_reports(db: &TestDatabase, org: &OrgId, ada: &EndUserId) -> [u64; 3] {
    let own: Arc<dyn Store> = guidepost_store::connect(&db.url).await.unwrap();
    let (platform, writer) = Platform::new(
        own.clone(),
        Settings::local(db.url.clone()).platform,
        Arc::new(guidepost_auth::IdentityProviders::new(false)),
        Arc::new(guidepost::dns::Dns::new(None)),
        guidepost_gateway::Supervisor::new(Settings::local("").gateway),
        Arc::new(guidepost_auth::UpstreamAuthorizer::new(false)),
    );
    let caller = crate::helpers::operator(org);
    let start = own.statements_executed();
    analytics::report(&platform, &caller, None, None, None)
        .await
        .unwrap();
    let report = own.statements_executed() - start;
    let start = own.statements_executed();
    analytics::calls_over_time(&platform, &caller, None, BucketWidth::Day, 30)
        .await
        .unwrap();
    let over_time = own.statements_executed() - start;
    let start = own.statements_executed();
    end_users::picture(&platform, &caller, ada).await.unwrap();
    let picture = own.statements_executed() - start;
    writer.shutdown().await;
    [report, over_time, picture]
}

async fn reports_cost_the_same_statements_for_ten_calls_or_a_thousand(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let (org, store) = (&app.tenant.org, &app.app.store);
    let server = app.app.create_server(&app.tenant, "acme", json!({})).await;
    let server: ServerId = Id::parse(server["id"].as_str().unwrap()).unwrap();
    let ada = person(store, org, "ada").await;
    let bob = person(store, org, "bob").await;
    let calls = |who: &EndUserId, count: i64| -> Vec<ToolCall> {
        (0..count)
            .map(|i| {
                call(
                    org,
                    &server,
                    who,
                    ["search", "lookup"][(i % 2) as usize],
                    i % 7 == 0,
                    i * 600,
                )
            })
            .collect()
    };
    store.insert_tool_calls(&calls(&ada, 10)).await.unwrap();
    let few = statements_of_reports(db, org, &ada).await;
    store.insert_tool_calls(&calls(&bob, 1_000)).await.unwrap();
    store.insert_tool_calls(&calls(&ada, 200)).await.unwrap();
    let many = statements_of_reports(db, org, &ada).await;
    assert_eq!(few, many, "[report, calls over time, person page]");
    assert_eq!(
        few[..2],
        [1, 1],
        "each report is one statement over the rollups"
    );
}

/// Counts are shown with their thousands grouped, on the overview and in analytics.
async fn counts_are_shown_with_their_thousands_grouped(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let (org, store) = (&app.tenant.org, &app.app.store);
    let server = app.app.create_server(&app.tenant, "acme", json!({})).await;
    let server: ServerId = Id::parse(server["id"].as_str().unwrap()).unwrap();
    let ada = person(store, org, "ada").await;
    let calls: Vec<ToolCall> = (0..1_234)
        .map(|i| call(org, &server, &ada, "search", i < 1_001, 60 + i % 600))
        .collect();
    for batch in calls.chunks(500) {
        store.insert_tool_calls(batch).await.unwrap();
    }
    let mut browser = member(&app, &app.tenant, OWNER, Role::Owner).await;
    let overview = browser.get("/app/").await;
    let overview = overview.ok();
    for figure in [
        "<div class=\"figure\">1,234</div><a href=\"/app/analytics\">tool calls in 24 h</a>",
        "<div class=\"figure\">1,001</div><a href=\"/app/analytics\">failed calls in 24 h</a>",
    ] {
        assert!(overview.contains(figure), "{figure} in {overview}");
    }
    let analytics = browser.get("/app/analytics?days=1").await;
    let analytics = analytics.ok();
    assert!(analytics.contains(">1,234</p>"), "{analytics}");
    let tools = table_rows(analytics, "tools-table");
    assert_eq!(tools[0][1..3], ["1,234", "1,001"], "{tools:?}");
}

backend_tests!(
    the_call_log_filters_by_person_and_errors,
    counts_are_shown_with_their_thousands_grouped,
    analytics_picks_days_exports_csv_and_links_error_rates_to_the_log,
    reports_cost_the_same_statements_for_ten_calls_or_a_thousand,
);
