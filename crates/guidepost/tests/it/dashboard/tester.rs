//! The tool tester on the server page: a form made from a tool's input schema
//! runs a built-in tool and an upstream's tool through the real endpoint, as the test
//! person; the calls are recorded as test calls; viewers get no form and are refused.
//! And the clients that connect to a server, by name and version.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{dashboard_app_with, member};
use crate::gateway_fixture::{FixtureDir, wait_for};

backend_tests! {
    async fn the_tester_runs_a_built_in_and_an_upstream_tool_and_records_test_calls(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let catalog = dir.catalog(&[]);
        let app = dashboard_app_with(db, move |s| s.platform.catalog = catalog).await;
        let key = &app.tenant.key;
        let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        let (_, upstream) = app.app.api(Method::POST, "/upstreams", key, Some(json!({"catalog_entry_id": "fixture"}))).await;
        let upstream = upstream["id"].as_str().unwrap().to_owned();
        wait_for(&app.app, &app.tenant, &upstream, |u| u["status"] == "ready").await;
        let attach = format!("/servers/{server}/upstreams/{upstream}");
        let (status, attached) = app.app.api(Method::PUT, &attach, key, Some(json!({"prefix": "fx"}))).await;
        assert!(status.is_success(), "{attached}");
        // New tools wait for review (the default): approve the one the test runs.
        let approve = format!("/upstreams/{upstream}/tools/echo/approve");
        let (status, approved) = app.app.api(Method::POST, &approve, key, None).await;
        assert!(status.is_success(), "{approved}");

        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        let tester = format!("/app/servers/{server}/tester");
        let listed = editor.get(&tester).await.ok().to_owned();
        assert!(listed.contains("<option value=\"fx__echo\"") && listed.contains("<option value=\"get_support\""), "{listed}");
        let form = editor.get(&format!("{tester}?tool=fx__echo")).await.ok().to_owned();
        assert!(form.contains("name=\"arg:message\""), "a field from the schema: {form}");

        // An upstream's tool, through the form.
        let echoed = editor.post(&tester, &[("tool", "fx__echo"), ("arg:message", "hello from the tester")]).await;
        assert_eq!(echoed.status, StatusCode::OK, "{}", echoed.body);
        assert!(echoed.body.contains("The tool answered.") && echoed.body.contains("hello from the tester"), "{}", echoed.body);
        // A built-in tool, with its optional fields left empty.
        editor.get(&format!("{tester}?tool=get_support")).await.ok();
        let asked = editor.post(&tester, &[("tool", "get_support"), ("arg:title", "Tried from the tester"),
            ("arg:problem_description", "Nothing is wrong."), ("arg:email", "tester@acme.example"),
            ("arg:problem_context", ""), ("arg:support_request_id", "")]).await;
        assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
        assert!(asked.body.contains("is open") && asked.body.contains("support_request_id"), "{}", asked.body);
        // A tool error is shown as one.
        editor.get(&format!("{tester}?tool=get_support")).await.ok();
        let refused = editor.post(&tester, &[("tool", "get_support"), ("arg:title", "x"), ("arg:problem_description", "x"),
            ("arg:support_request_id", "sr_nothing")]).await;
        assert!(refused.body.contains("The tool answered with an error."), "{}", refused.body);

        // Recorded as test calls of the test person.
        let calls = app.app.wait_for_tool_calls(&app.tenant, 3).await;
        let mut tools: Vec<&str> = calls.iter().map(|c| c["tool_name"].as_str().unwrap()).collect();
        tools.sort();
        assert_eq!(tools, ["fx__echo", "get_support", "get_support"], "{calls:?}");
        assert!(calls.iter().all(|c| c["is_test"] == true), "{calls:?}");
        let person = calls[0]["end_user_id"].as_str().unwrap();
        let (_, end_user) = app.app.get(&format!("/end-users/{person}"), key).await;
        assert_eq!(end_user["tracking_id"], "guidepost-tool-tester", "{end_user}");

        // An agent's call is not a test call.
        let agent = crate::helpers::RawMcp::new(app.app.mcp_path_url("docs"), crate::helpers::STATELESS_ERA);
        let answer = agent.call_tool(1, "fx__echo", json!({"message": "from an agent"})).await;
        assert_eq!(answer.body["result"]["content"][0]["text"], "from an agent", "{}", answer.body);
        let calls = app.app.wait_for_tool_calls(&app.tenant, 4).await;
        let tests = calls.iter().filter(|c| c["is_test"] == true).count();
        assert_eq!(tests, 3, "{calls:?}");
        // The reports count the agent's call only; the call log lists all four, the
        // tester's marked.
        let (_, report) = app.app.get("/analytics/tools", key).await;
        let tools = report["tools"].as_array().unwrap();
        let counted: Vec<_> = tools.iter().map(|t| (t["tool_name"].as_str().unwrap(), t["calls"].as_u64().unwrap())).collect();
        assert_eq!(counted, [("fx__echo", 1)], "{report}");
        let log = editor.get("/app/tool-calls").await.ok().to_owned();
        assert_eq!(log.matches("<span class=\"badge\">test</span>").count(), 3, "{log}");

        // A viewer sees the tools but gets no form, and is refused a run.
        let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
        let seen = viewer.get(&format!("{tester}?tool=fx__echo")).await.ok().to_owned();
        assert!(!seen.contains("method=\"post\" action=\"/app/servers/"), "{seen}");
        let run = viewer.post(&tester, &[("tool", "fx__echo"), ("arg:message", "x")]).await;
        assert_eq!(run.status, StatusCode::FORBIDDEN, "{}", run.body);
    }

    async fn a_servers_clients_are_listed_by_name_and_version(db: &TestDatabase) {
        let app = super::dashboard_app(db).await;
        let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        let other = app.app.create_server(&app.tenant, "other", json!({})).await;
        let other = other["id"].as_str().unwrap().to_owned();
        let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
        let page = format!("/app/servers/{server}/clients");
        assert!(viewer.get(&page).await.ok().contains("No client holds a session"));
        for _ in 0..2 {
            let mut client = crate::helpers::RawMcp::new(app.app.mcp_path_url("docs"), crate::helpers::SESSION_ERA);
            client.initialize().await;
        }
        let listed = viewer.get(&page).await.ok().to_owned();
        assert!(listed.contains("<tr><td>it</td><td>1.0</td><td>2</td>"), "two sessions of it 1.0: {listed}");
        let elsewhere = viewer.get(&format!("/app/servers/{other}/clients")).await.ok().to_owned();
        assert!(elsewhere.contains("No client holds a session"), "{elsewhere}");
        let stranger = app.app.create_tenant("Other").await;
        let mut outsider = member(&app, &stranger, "x@other.example", Role::Owner).await;
        assert_eq!(outsider.get(&page).await.status, StatusCode::NOT_FOUND);
    }
}
