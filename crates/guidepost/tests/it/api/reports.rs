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

/// The report reads the hourly rollups: with the raw calls gone it still counts them,
/// and its CSV export says the same.
async fn reports_are_read_from_rollups_and_exported_as_csv(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let server = app.server_record(&acme, &server).await;
    app.tool_calls(&[
        tool_call(&acme, &server, "search", false, 100, 60),
        tool_call(&acme, &server, "search", true, 300, 120),
    ])
    .await;
    let later = guidepost_domain::Timestamp::now().plus_seconds(60);
    assert_eq!(app.store().prune_tool_calls(later, 100).await.unwrap(), 2);
    let listed = app.get(&acme, "/api/v1/tool-calls").await;
    assert!(listed.body["items"].as_array().unwrap().is_empty());

    let report = app.get(&acme, "/api/v1/analytics/tools").await;
    let search = &report.body["tools"][0];
    assert_eq!(
        (search["calls"].as_i64(), search["errors"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(search["max_us"], 300);
    assert_eq!(search["p50_us"], 100, "the bound of 100's bucket");
    let export = app.request(
        axum::http::Method::GET,
        "/api/v1/analytics/tools/export",
        Some(&acme.key),
    );
    let csv = export.send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with("\"search\",2,1,0.5000,100,300,300,300,"),
        "{text}"
    );
}

async fn tool_calls_filter_by_errors_person_and_time(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let server = app.server_record(&acme, &server).await;
    let ada = guidepost_domain::EndUserId::generate();
    let mut adas = tool_call(&acme, &server, "search", true, 100, 60);
    adas.end_user_id = Some(ada.clone());
    app.tool_calls(&[
        adas,
        tool_call(&acme, &server, "search", true, 200, 120),
        tool_call(&acme, &server, "search", false, 300, 3 * 3600),
    ])
    .await;
    let count = async |query: &str| {
        let reply = app.get(&acme, &format!("/api/v1/tool-calls?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body["items"].as_array().unwrap().len()
    };
    assert_eq!(count("errors_only=true").await, 2);
    assert_eq!(
        count(&format!("errors_only=true&end_user_id={ada}")).await,
        1
    );
    assert_eq!(count(&format!("since={}", now_minus_hours(1))).await, 2);
    assert_eq!(count(&format!("until={}", now_minus_hours(1))).await, 1);
    let garbled = app.get(&acme, "/api/v1/tool-calls?since=today").await;
    garbled.problem(422);
    assert_eq!(garbled.error_fields(), ["since"]);
    let not_an_upstream = app.get(&acme, "/api/v1/tool-calls?upstream_id=ms_x").await;
    not_an_upstream.problem(422);
}

fn now_minus_hours(hours: i64) -> String {
    guidepost_domain::Timestamp::now()
        .plus_seconds(-hours * 3600)
        .to_rfc3339()
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
    reports_are_read_from_rollups_and_exported_as_csv,
    tool_calls_filter_by_errors_person_and_time,
);
