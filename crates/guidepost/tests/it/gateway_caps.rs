//! What an upstream can make the platform do after it was attached: it cannot grow a server past `--max-server-tools` nor take a name twice (what
//! does not fit is quarantined, with the reason), a flood of `list_changed` costs a few
//! rediscoveries, the audit events one upstream causes in an hour are bounded, and the
//! audit log is pruned after its own retention.

use std::time::{Duration, Instant};

use guidepost_core::upstreams::audit::UPSTREAM_EVENTS_PER_HOUR;
use guidepost_core::upstreams::exposed_name;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{Fixture, fixture_with, stored_tool, wait_for_mark};
use crate::helpers::{Tenant, TestApp, spawn_app_with, tool_names};

const HOSTILE: &[(&str, &str)] = &[("FIXTURE_HOSTILE", "1")];

/// The upstream's stored tools, as the API shows them.
async fn tools(f: &Fixture) -> Vec<Value> {
    let (_, tools) = f
        .app
        .get(&format!("/upstreams/{}/tools", f.upstream), &f.acme.key)
        .await;
    tools["items"].as_array().unwrap().clone()
}

fn has_finding(tool: &Value, rule: &str) -> bool {
    tool["findings"]
        .as_array()
        .is_some_and(|found| found.iter().any(|f| f["rule"] == rule))
}

/// The organization's whole audit log, newest first.
async fn audit_log(app: &TestApp, tenant: &Tenant) -> Vec<Value> {
    let mut events = Vec::new();
    let mut path = "/audit-events?limit=200".to_owned();
    loop {
        let (status, page) = app.get(&path, &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        events.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/audit-events?limit=200&cursor={cursor}"),
            None => return events,
        }
    }
}

/// The events the platform recorded about the fixture's upstream.
async fn platform_events(f: &Fixture) -> Vec<Value> {
    audit_log(&f.app, &f.acme)
        .await
        .into_iter()
        .filter(|e| e["actor"] == "platform" && e["upstream_id"] == f.upstream.as_str())
        .collect()
}

/// The platform's events about the fixture's upstream once `done` holds for them (a
/// discovery stores the tools before it records their events).
async fn platform_events_when(f: &Fixture, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = platform_events(f).await;
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{} events: {events:?}",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn summarized(events: &[Value]) -> bool {
    events
        .iter()
        .any(|e| e["action"] == "upstream.events_summarized")
}

/// The tools a client of the fixture's server sees.
async fn listed(f: &Fixture) -> Vec<String> {
    tool_names(&f.mcp.call(90, "tools/list", json!({})).await)
}

/// CPU time this process (the server and the test) used so far: user and system, from
/// /proc (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // After the command's name: state is field 3, utime 14 and stime 15 (1-based).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn marks(f: &Fixture, prefix: &str) -> usize {
    std::fs::read_to_string(&f.marks)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .count()
}

backend_tests! {
    /// An upstream that grows its list after the attach cannot take the server past
    /// its cap: what does not fit is quarantined with a `server-tool-cap` finding, and
    /// approving it is refused until there is room.
    async fn tools_that_grow_past_the_cap_after_attach_are_quarantined_with_the_reason(db: &TestDatabase) {
        let cap = 24;
        let f = fixture_with(db, "acme", 60_000, HOSTILE, |s| s.platform.max_server_tools = cap).await;
        // 7 built-in and 14 attached tools take 21 places: 3 are left.
        let before = listed(&f).await;
        f.mcp.call_tool(1, "fx__bloat", json!({"count": 30, "prefix": "extra"})).await;
        stored_tool(&f, &f.upstream, "extra29", Duration::from_secs(20), |_| true).await;
        let stored = tools(&f).await;
        let extra: Vec<&Value> = stored.iter().filter(|t| t["name"].as_str().unwrap().starts_with("extra")).collect();
        assert_eq!(extra.len(), 30);
        let fitting: Vec<&str> = extra.iter().filter(|t| t["state"] == "approved").map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(fitting, ["extra0", "extra1", "extra2"], "{stored:?}");
        for tool in extra.iter().filter(|t| t["state"] != "approved") {
            assert_eq!(tool["state"], "quarantined", "{tool}");
            assert!(has_finding(tool, "server-tool-cap"), "{tool}");
        }
        let after = listed(&f).await;
        assert!(after.len() <= cap, "{} tools listed: {after:?}", after.len());
        assert_eq!(after.len(), before.len() + 3, "{after:?}");
        assert!(!after.contains(&"fx__extra3".to_owned()));

        // Approval waits for room; rejecting another tool makes it.
        let approve = format!("/upstreams/{}/tools/extra4/approve", f.upstream);
        let (status, refused) = f.app.api(Method::POST, &approve, &f.acme.key, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert!(refused["detail"].as_str().unwrap().contains(&format!("its cap of {cap}")), "{refused}");
        let reject = format!("/upstreams/{}/tools/extra0/reject", f.upstream);
        let (status, _) = f.app.api(Method::POST, &reject, &f.acme.key, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, approved) = f.app.api(Method::POST, &approve, &f.acme.key, None).await;
        assert_eq!(status, StatusCode::OK, "{approved}");
        let now = listed(&f).await;
        assert!(now.contains(&"fx__extra4".to_owned()) && now.len() <= cap, "{now:?}");
    }

    /// A tool added after the attach whose exposed name another tool of the same
    /// upstream already has (a long name is shortened with a hash, and the upstream
    /// names a tool after the result) is quarantined with a `name-collision` finding.
    async fn a_name_that_collides_after_attach_is_quarantined_with_the_reason(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], |_| {}).await;
        // Under 64 characters (the scanner flags longer runs as blobs), over 60 with "fx__".
        let long = "summarize_the_weather_forecast_for_one_city_over_the_next_week";
        let exposed = exposed_name("fx", long);
        assert_ne!(exposed, format!("fx__{long}"), "shortened");
        f.mcp.call_tool(1, "fx__grow", json!({"name": long})).await;
        stored_tool(&f, &f.upstream, long, Duration::from_secs(20), |t| t["state"] == "approved").await;
        let twin = exposed.strip_prefix("fx__").unwrap().to_owned();
        assert_eq!(exposed_name("fx", &twin), exposed, "the twin takes the same name");
        f.mcp.call_tool(2, "fx__grow", json!({"name": twin})).await;
        let tool = stored_tool(&f, &f.upstream, &twin, Duration::from_secs(20), |_| true).await;
        assert_eq!(tool["state"], "quarantined", "{tool}");
        let finding = tool["findings"].as_array().unwrap().iter()
            .find(|x| x["rule"] == "name-collision").unwrap_or_else(|| panic!("{tool}"));
        assert!(finding["matched"].as_str().unwrap().contains(&exposed), "{finding}");
        let names = listed(&f).await;
        assert_eq!(names.iter().filter(|n| **n == exposed).count(), 1, "{names:?}");
        let approve = format!("/upstreams/{}/tools/{twin}/approve", f.upstream);
        let (status, refused) = f.app.api(Method::POST, &approve, &f.acme.key, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    }

    /// 5,000 `list_changed` in 5 s, each with a changed definition, cost a handful of
    /// rediscoveries and audit events, and the last change is still discovered.
    async fn a_flood_of_list_changed_costs_a_few_rediscoveries(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, HOSTILE, |_| {}).await;
        let listings_before = marks(&f, "listed");
        let events_before = platform_events_when(&f, |e| e.len() >= 14).await.len();
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let answer = f.mcp.call_tool(1, "fx__flood", json!({"count": 5000, "seconds": 5})).await;
        assert_eq!(crate::gateway_fixture::text_of(&answer.body), "flooding");
        wait_for_mark(&f.marks, "flooded").await;
        let flooding = started.elapsed();
        stored_tool(&f, &f.upstream, "churn", Duration::from_secs(20), |t| {
            t["definition"]["description"] == "Changed 5000 times."
        })
        .await;
        let cpu = cpu_seconds() - cpu_before;
        let listings = marks(&f, "listed") - listings_before;
        // The last rediscovery's event follows the stored tool within moments.
        let events = platform_events_when(&f, |e| e.iter().any(|e| {
            e["tool"] == "churn" && e["detail"]["diff"].to_string().contains("Changed 5000 times.")
        }))
        .await
        .len()
            - events_before;
        eprintln!(
            "5,000 list_changed over {:.1} s: {listings} rediscoveries, {events} audit events, \
             {cpu:.2} s of CPU (server and test)",
            flooding.as_secs_f64()
        );
        // One rediscovery every two seconds at most, and the one pending at the end.
        let most = 2 + flooding.as_secs() as usize / 2;
        assert!((1..=most).contains(&listings), "{listings} rediscoveries, at most {most}");
        assert!(events <= listings, "{events} audit events");
        // CPU time, not wall-clock: it holds on a loaded machine (about 0.7 s is usual,
        // 5.8 s was measured before rediscoveries were paced).
        assert!(cpu < 3.0, "{cpu:.2} s of CPU");
    }

    /// An upstream that adds 300 tools at once causes at most
    /// `UPSTREAM_EVENTS_PER_HOUR` audit events in the hour, the last of them a summary of
    /// what was left out; its tools are all stored and judged all the same.
    async fn an_upstream_causes_a_bounded_number_of_audit_events_an_hour(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, HOSTILE, |_| {}).await;
        let discovered = platform_events_when(&f, |e| e.len() >= 14).await.len();
        assert_eq!(discovered, 14, "the first discovery is recorded whole");
        f.mcp.call_tool(1, "fx__bloat", json!({"count": 300, "prefix": "extra"})).await;
        stored_tool(&f, &f.upstream, "extra299", Duration::from_secs(20), |_| true).await;
        let events = platform_events_when(&f, summarized).await;
        assert_eq!(events.len() as u64, UPSTREAM_EVENTS_PER_HOUR, "{events:?}");
        let summaries: Vec<&Value> = events.iter().filter(|e| e["action"] == "upstream.events_summarized").collect();
        assert_eq!(summaries.len(), 1, "{events:?}");
        let summary = summaries[0];
        let left_out = summary["detail"]["left_out"].as_u64().unwrap();
        let recorded = UPSTREAM_EVENTS_PER_HOUR - 1 - discovered as u64;
        assert_eq!(left_out + recorded, 300, "{summary}");
        let by_action: u64 = summary["detail"]["by_action"].as_object().unwrap().values()
            .map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(by_action, left_out, "{summary}");
        assert_eq!(tools(&f).await.len(), 314);

        // The budget is spent for the hour: a further change is stored, not recorded.
        f.mcp.call_tool(2, "fx__grow", json!({"name": "late"})).await;
        stored_tool(&f, &f.upstream, "late", Duration::from_secs(20), |_| true).await;
        // Its events would follow the stored tools within moments.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(platform_events(&f).await.len() as u64, UPSTREAM_EVENTS_PER_HOUR);
    }

    /// Audit events older than `--audit-retention-days` are pruned by the retention
    /// sweep; newer ones stay.
    async fn audit_events_are_pruned_after_their_own_retention(db: &TestDatabase) {
        use guidepost_domain::{AuditEvent, AuditEventId, Timestamp};
        let app = spawn_app_with(db, |s| s.platform.audit_retention = Duration::from_secs(86_400)).await;
        let tenant = app.create_tenant("Acme").await;
        let event = |days_ago: i64, action: &str| AuditEvent {
            id: AuditEventId::generate(),
            org_id: tenant.org.clone(),
            created_at: Timestamp::now().plus_seconds(-days_ago * 86_400),
            actor: "platform".into(),
            actor_name: None,
            action: action.into(),
            object_type: None,
            object_id: None,
            object_name: None,
            upstream_id: None,
            server_id: None,
            tool: None,
            detail: json!({}),
            upstream_name: None,
            server_name: None,
            text: String::new(),
        };
        app.store.record_audit_event(&event(2, "tool.discovered")).await.unwrap();
        app.store.record_audit_event(&event(0, "tool.changed")).await.unwrap();
        let before = audit_log(&app, &tenant).await.len();
        let swept = guidepost_core::privacy::retention::sweep(&app.app.platform).await;
        assert_eq!(swept.audit_events, 1, "{swept:?}");
        let after = audit_log(&app, &tenant).await;
        assert_eq!(after.len(), before - 1);
        assert!(after.iter().all(|e| e["action"] != "tool.discovered"), "{after:?}");
    }
}
