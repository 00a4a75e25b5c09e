use axum::http::StatusCode;

use crate::api::helpers::{spawn_app, tool_call};
use guidepost_testkit::{TestDatabase, backend_tests};

async fn tool_calls_are_listed_with_filters(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let first = app.create_server(&acme, "first").await;
    let first = app.server_record(&acme, &first).await;
    let second = app.create_server(&acme, "second").await;
    let second = app.server_record(&acme, &second).await;
    app.tool_calls(&[
        tool_call(&acme, &first, "search", false, 100, 30),
        tool_call(&acme, &first, "get_support", true, 200, 20),
        tool_call(&acme, &second, "search", false, 300, 10),
    ])
    .await;

    let all = app.get(&acme, "/api/v1/tool-calls").await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    let durations: Vec<i64> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["duration_us"].as_i64().unwrap())
        .collect();
    assert_eq!(durations, [300, 200, 100], "newest first");

    let searches = app.get(&acme, "/api/v1/tool-calls?tool_name=search").await;
    assert_eq!(searches.body["items"].as_array().unwrap().len(), 2);
    let on_first = app
        .get(
            &acme,
            &format!("/api/v1/tool-calls?server_id={}&tool_name=search", first.id),
        )
        .await;
    assert_eq!(on_first.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(on_first.body["items"][0]["duration_us"], 100);

    let paged = app.get(&acme, "/api/v1/tool-calls?limit=2").await;
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 2);
    let cursor = paged.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &acme,
            &format!("/api/v1/tool-calls?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(rest.body["items"][0]["duration_us"], 100);
}

async fn the_tool_report_covers_the_last_day_by_default(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let server = app.server_record(&acme, &server).await;
    app.tool_calls(&[
        tool_call(&acme, &server, "search", false, 100, 60),
        tool_call(&acme, &server, "search", true, 300, 120),
        tool_call(&acme, &server, "lookup", false, 50, 60),
        // Two days ago: outside the default window.
        tool_call(&acme, &server, "search", false, 9_000, 2 * 24 * 3600),
    ])
    .await;

    let report = app.get(&acme, "/api/v1/analytics/tools").await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    let tools = report.body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 2);
    let search = tools.iter().find(|t| t["tool_name"] == "search").unwrap();
    assert_eq!(search["calls"], 2);
    assert_eq!(search["errors"], 1);
    assert_eq!(search["error_rate"], 0.5);
    assert_eq!(search["max_us"], 300);
    let since =
        guidepost_domain::Timestamp::parse_rfc3339(report.body["since"].as_str().unwrap()).unwrap();
    let until =
        guidepost_domain::Timestamp::parse_rfc3339(report.body["until"].as_str().unwrap()).unwrap();
    assert_eq!(until.micros() - since.micros(), 24 * 3600 * 1_000_000);

    let wide = app
        .get(
            &acme,
            &format!("/api/v1/analytics/tools?since={}", now_minus_days(3)),
        )
        .await;
    let search = wide.body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool_name"] == "search")
        .unwrap()
        .clone();
    assert_eq!(search["calls"], 3, "{}", wide.body);
}

async fn report_windows_are_checked(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let too_wide = app
        .get(
            &acme,
            &format!("/api/v1/analytics/tools?since={}", now_minus_days(32)),
        )
        .await;
    too_wide.problem(422);
    assert_eq!(too_wide.error_fields(), ["since"]);
    let thirty_days = app
        .get(
            &acme,
            &format!("/api/v1/analytics/tools?since={}", now_minus_days(30)),
        )
        .await;
    assert_eq!(thirty_days.status, StatusCode::OK, "{}", thirty_days.body);

    let backwards = app
        .get(
            &acme,
            "/api/v1/analytics/tools?since=2025-01-02T00:00:00Z&until=2025-01-01T00:00:00Z",
        )
        .await;
    backwards.problem(422);
    let garbled = app
        .get(&acme, "/api/v1/analytics/tools?until=yesterday")
        .await;
    garbled.problem(422);
    assert_eq!(garbled.error_fields(), ["until"]);
}

fn now_minus_days(days: i64) -> String {
    guidepost_domain::Timestamp::now()
        .plus_seconds(-days * 24 * 3600)
        .to_rfc3339()
}

backend_tests!(
    tool_calls_are_listed_with_filters,
    the_tool_report_covers_the_last_day_by_default,
    report_windows_are_checked,
);
