//! The dashboard's main journeys in Chromium (tests/e2e/dashboard_journeys.mjs), once with
//! JavaScript and once without, each in an organization of its own: sign in by code, create
//! a server and copy its snippet; author, reorder, preview, publish and assign a 3-step
//! walkthrough; walk it with the official Python client and see the funnel and the person;
//! answer a support request; install an upstream from the catalog, attach it, and approve
//! its quarantined tool after reading the diff; approve, from the Approvals queue, a call
//! that a policy held for a member, and see its retry run. axe-core checks every page (with
//! JavaScript on); every page is photographed under the target directory.
//!
//! Chromium is installed by scripts/install-test-tools; without it this test fails and
//! says so (it never skips).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use guidepost_core::upstreams::catalog::Catalog;
use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::add_member;
use crate::gateway_fixture::fixture_catalog_with;
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, json_report, python, tool_names};
use crate::node;
use crate::oauth_helpers::{OAuthApp, oauth_app};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Bounds a hung browser; a normal run takes well under a minute.
const LIMIT: Duration = Duration::from_secs(400);

fn lookup(description: &str) -> Value {
    json!({
        "name": "lookup",
        "description": description,
        "inputSchema": {"type": "object", "properties": {"word": {"type": "string"}},
            "required": ["word"]},
    })
}

async fn journeys_in_chromium(db: &TestDatabase) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "Chromium is missing ({CHROMIUM}): run scripts/install-test-tools (scripts/test does it)"
    );
    node::package_file("axe-core/axe.min.js");
    let scratch = node::scratch_dir(&format!("dashboard-journeys-{}", db.backend));
    let tools_file = scratch.join("fixture-tools.json");
    std::fs::write(&tools_file, json!([lookup("Looks a word up.")]).to_string()).unwrap();
    let entry = fixture_catalog_with(
        &scratch.join("marks"),
        &[("FIXTURE_TOOLS", &tools_file.display().to_string())],
        "",
    );
    let catalog = Catalog::with_operator_entries(&entry).unwrap();
    let app = oauth_app(db, &[], move |settings| {
        settings.platform.catalog = std::sync::Arc::new(catalog);
    })
    .await;
    let beta = app.app.create_tenant("Beta").await;
    let mut lines = Vec::new();
    for (javascript, tenant, email, slug) in [
        ("on", &app.tenant, "js@acme.example", "docs-js"),
        ("off", &beta, "nojs@beta.example", "docs-nojs"),
    ] {
        app.app.trust_new_tools(tenant).await;
        add_member(&app, tenant, email, Role::Owner).await;
        let shots = scratch.join(format!("javascript-{javascript}"));
        std::fs::create_dir_all(&shots).unwrap();
        let run = Run {
            app: &app,
            tenant,
            javascript,
            email,
            slug,
            shots: &shots,
            tools_file: &tools_file,
        };
        let (report, took) = run.journeys().await;
        run.check(&report).await;
        lines.push(format!(
            "Chromium dashboard journeys [{}, JavaScript {javascript}]: {} pages, axe clean, \
             screenshots in {}, {:.1} s",
            db.backend,
            report["pages"].as_array().unwrap().len(),
            shots.display(),
            took.as_secs_f64()
        ));
    }
    node::summary(&format!("dashboard-browser-{}", db.backend), &lines);
}

struct Run<'a> {
    app: &'a OAuthApp,
    tenant: &'a Tenant,
    javascript: &'a str,
    email: &'a str,
    slug: &'a str,
    shots: &'a Path,
    tools_file: &'a Path,
}

impl Run<'_> {
    /// Runs the script; while it waits after attaching, changes the upstream's tool so
    /// that it is quarantined.
    async fn journeys(&self) -> (Value, Duration) {
        let signal = self.shots.join("attached");
        let script = node::e2e_dir().join("dashboard_journeys.mjs");
        let python = python();
        let args: [&OsStr; 19] = [
            script.as_os_str(),
            "--base".as_ref(),
            self.app.app.url.as_ref(),
            "--outbox".as_ref(),
            self.app.outbox.as_os_str(),
            "--email".as_ref(),
            self.email.as_ref(),
            "--slug".as_ref(),
            self.slug.as_ref(),
            "--screenshots".as_ref(),
            self.shots.as_os_str(),
            "--python".as_ref(),
            python.as_os_str(),
            "--javascript".as_ref(),
            self.javascript.as_ref(),
            "--catalog-entry".as_ref(),
            "fixture".as_ref(),
            "--quarantine-signal".as_ref(),
            signal.as_os_str(),
        ];
        // The tool is changed while the script waits; if the script ends first (it
        // failed), nothing waits for the signal any longer.
        let run = node::run(&args, &[], LIMIT);
        tokio::pin!(run);
        let (output, took) = tokio::select! {
            finished = &mut run => finished,
            () = self.quarantine_when_attached(&signal) => run.await,
        };
        let report = json_report(&output, "the browser script");
        assert_eq!(
            report["error"],
            Value::Null,
            "JavaScript {}: {report:#}",
            self.javascript
        );
        (report, took)
    }

    /// Once the script has attached the upstream: a changed description (with a hidden
    /// zero-width space) and a restart, until the tool is quarantined; then tells the
    /// script to go on.
    async fn quarantine_when_attached(&self, signal: &Path) {
        let deadline = Instant::now() + LIMIT;
        while !signal.exists() {
            if Instant::now() > deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let changed = format!("Looks a word up ({}).\u{200b}", self.slug);
        std::fs::write(self.tools_file, json!([lookup(&changed)]).to_string()).unwrap();
        let upstream = self.upstream_id().await;
        let key = &self.tenant.key;
        let path = format!("/upstreams/{upstream}/restart");
        let (status, body) = self.app.app.api(Method::POST, &path, key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        loop {
            let (_, tools) = self
                .app
                .app
                .get(&format!("/upstreams/{upstream}/tools"), key)
                .await;
            let quarantined = tools["items"].as_array().is_some_and(|t| {
                t.iter()
                    .any(|t| t["name"] == "lookup" && t["state"] == "quarantined")
            });
            if quarantined {
                break;
            }
            assert!(Instant::now() < deadline, "never quarantined: {tools}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        std::fs::write(PathBuf::from(format!("{}.done", signal.display())), "go").unwrap();
    }

    async fn upstream_id(&self) -> String {
        let (status, list) = self.app.app.get("/upstreams", &self.tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["items"][0]["id"]
            .as_str()
            .expect("an installed upstream")
            .to_owned()
    }

    /// What the journeys left behind, read through the API and MCP, and what the browser saw.
    async fn check(&self, report: &Value) {
        let label = format!("JavaScript {}", self.javascript);
        let pages = report["pages"].as_array().unwrap();
        assert!(pages.len() >= 38, "{label}: {} pages", pages.len());
        for page in pages {
            let shot = page["screenshot"].as_str().unwrap();
            let size = std::fs::metadata(shot).map(|m| m.len()).unwrap_or(0);
            assert!(size > 1000, "{label}: a real PNG at {shot}");
            assert_eq!(page["violations"], json!([]), "{label}: {page:#}");
            assert!(
                page["title"].as_str().unwrap().ends_with("· Guidepost"),
                "{page}"
            );
        }
        let not_found = pages.iter().find(|p| p["name"] == "not-found").unwrap();
        assert_eq!(not_found["status"], 404, "{label}: {not_found}");
        assert_eq!(report["foreign_requests"], json!([]), "{label}");
        assert_eq!(report["csp_violations"], json!([]), "{label}");
        let ids = &report["ids"];
        // The copied Cursor snippet names the server's own address.
        let copied: Value = serde_json::from_str(ids["copied"].as_str().unwrap()).unwrap();
        let port = self.app.app.url.rsplit(':').next().unwrap();
        let address = format!("http://{}.localhost:{port}/mcp", self.slug);
        assert_eq!(copied["mcpServers"][self.slug]["url"], address, "{label}");
        if self.javascript == "on" {
            let dragged = json!(["Deploy", "Log in", "Install"]);
            assert_eq!(
                ids["dragged_order"], dragged,
                "{label}: drag and drop moved it"
            );
        }
        assert_eq!(
            ids["order"],
            json!(["Log in", "Install", "Deploy"]),
            "{label}"
        );
        assert_eq!(
            ids["preview_bold"], 1,
            "{label}: the unsaved Markdown is previewed"
        );
        assert_eq!(
            ids["preview_badge"].as_u64().map(|n| n >= 1),
            Some(true),
            "{label}"
        );
        assert_eq!(ids["walked"]["completed"], true, "{label}: {ids}");
        let end_user = ids["end_user_text"].as_str().unwrap();
        assert!(end_user.contains("Set up the CLI"), "{label}: {end_user}");
        assert!(
            ids["review_text"].as_str().unwrap().contains("U+200B"),
            "{label}: {ids}"
        );

        let key = &self.tenant.key;
        let (_, walkthroughs) = self.app.app.get("/walkthroughs", key).await;
        let walkthrough = &walkthroughs["items"][0];
        assert_eq!(walkthrough["title"], "Set up the CLI");
        let id = walkthrough["id"].as_str().unwrap();
        let (_, funnel) = self
            .app
            .app
            .get(&format!("/walkthroughs/{id}/funnel"), key)
            .await;
        assert_eq!(funnel["totals"]["completed"], 1, "{label}: {funnel}");
        let (_, support) = self.app.app.get("/support-requests", key).await;
        let items = support["items"].as_array().unwrap();
        let answered = items.iter().find(|r| r["title"] == "Deploy fails").unwrap();
        assert_eq!(answered["status"], "resolved", "{label}: {support}");
        // A member approved the waiting call from the queue; its retry ran.
        let asked = &ids["approval_asked"];
        assert_eq!(asked["is_error"], true, "{label}: {asked}");
        let told = asked["text"].as_str().unwrap_or_default();
        assert!(
            told.contains("needs the approval of a member"),
            "{label}: {asked}"
        );
        let queue = ids["approval_text"].as_str().unwrap_or_default();
        assert!(
            queue.contains("releases-need-a-member") && queue.contains("Release v2"),
            "{label}: {queue}"
        );
        assert_eq!(ids["approval_retried"]["is_error"], false, "{label}: {ids}");
        let (_, approved) = self.app.app.get("/approvals?status=used", key).await;
        assert_eq!(
            approved["items"].as_array().map(Vec::len),
            Some(1),
            "{label}: {approved}"
        );
        let mcp = RawMcp::new(self.app.app.mcp_path_url(self.slug), STATELESS_ERA);
        let names = tool_names(&mcp.call(1, "tools/list", json!({})).await);
        assert!(
            names.contains(&"fx__lookup".to_owned()),
            "{label}: approved: {names:?}"
        );
    }
}

backend_tests! {
    async fn the_dashboard_journeys_complete_in_chromium_with_and_without_javascript(db: &TestDatabase) {
        journeys_in_chromium(db).await;
    }
}
