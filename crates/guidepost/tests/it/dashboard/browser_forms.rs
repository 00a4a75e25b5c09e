//! The dashboard's forms, layout and confirmations in Chromium
//! (tests/e2e/dashboard_forms.mjs), once with JavaScript and once without, each in an
//! organization of its own with a server, a walkthrough, an installed upstream and a
//! second member: every main page at 1,440 and 390 px (light and, with JavaScript, dark)
//! scrolls no wider than the window and is axe-clean; refused forms come back with the
//! message beside the field and the values kept; every destructive action asks first;
//! reloading after creating a key makes no second key.
//!
//! Chromium is installed by scripts/install-test-tools; without it this test fails and
//! says so (it never skips).

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::add_member;
use super::gateway::{gateway_app, installed_by_api};
use super::support::ask;
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, json_report};
use crate::node;
use crate::oauth_helpers::OAuthApp;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Bounds a hung browser; a run takes a few minutes on a shared 2-core machine.
const LIMIT: Duration = Duration::from_secs(900);

/// The pages `seed` lists, each checked at both widths.
const PAGES: usize = 27;

/// Makes what the pages show in `tenant`; the script's setup file.
async fn seed(app: &OAuthApp, tenant: &Tenant, javascript: &str, owner: &str) -> Value {
    let slug = format!("docs-{javascript}");
    let (upstream, server) = installed_by_api(&app.app, tenant, &slug).await;
    let walkthrough = app
        .app
        .seed_walkthrough(tenant, "Set up the CLI", 2, Some((&server, 1)))
        .await
        .id;
    add_member(app, tenant, owner, Role::Owner).await;
    let leaving = format!("leaving-{javascript}@acme.example");
    add_member(app, tenant, &leaving, Role::Editor).await;
    let editor = format!("/app/walkthroughs/{walkthrough}");
    let mcp = RawMcp::new(app.app.mcp_path_url(&slug), STATELESS_ERA);
    let request = ask(&mcp, "Deploy fails", "dev@example.com").await;
    let hook = json!({"url": "https://hooks.example.com/guidepost",
        "events": ["support_request.created"]});
    let (status, hook) = app
        .app
        .api(Method::POST, "/webhooks", &tenant.key, Some(hook))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook = hook["id"].as_str().unwrap();
    let pages = [
        ("overview", "/app/".to_owned()),
        ("servers", "/app/servers".to_owned()),
        ("server-new", "/app/servers/new".to_owned()),
        ("server", format!("/app/servers/{server}")),
        ("walkthroughs", "/app/walkthroughs".to_owned()),
        ("walkthrough", editor.clone()),
        ("publish", format!("{editor}/publish")),
        ("versions", format!("{editor}/versions")),
        ("analytics", "/app/analytics".to_owned()),
        ("funnel", format!("/app/analytics/funnel/{walkthrough}")),
        ("end-users", "/app/end-users".to_owned()),
        ("support", "/app/support".to_owned()),
        ("support-request", format!("/app/support/{request}")),
        (
            "conversation",
            format!("/app/support/{request}/conversation"),
        ),
        ("webhooks", "/app/support/webhooks".to_owned()),
        ("feedback", "/app/support/feedback".to_owned()),
        ("missing", "/app/analytics/missing".to_owned()),
        ("search", "/app/search?q=a".to_owned()),
        ("webhook", format!("/app/support/webhooks/{hook}")),
        ("tool-calls", "/app/tool-calls".to_owned()),
        ("tester", format!("/app/servers/{server}/tester")),
        ("clients", format!("/app/servers/{server}/clients")),
        ("gateway", "/app/gateway".to_owned()),
        ("catalog", "/app/gateway/catalog".to_owned()),
        ("upstream", format!("/app/gateway/upstreams/{upstream}")),
        ("review", "/app/gateway/review".to_owned()),
        ("audit", "/app/gateway/audit".to_owned()),
        ("policies", "/app/gateway/policies".to_owned()),
        ("approvals", "/app/gateway/approvals".to_owned()),
        ("members", "/app/members".to_owned()),
        ("api-keys", "/app/api-keys".to_owned()),
    ];
    json!({
        "pages": pages,
        "taken_slug": slug,
        "server": format!("/app/servers/{server}"),
        "walkthrough": editor,
        "upstream": format!("/app/gateway/upstreams/{upstream}"),
        "member": leaving,
    })
}

async fn forms_and_layout_in_chromium(db: &TestDatabase) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "Chromium is missing ({CHROMIUM}): run scripts/install-test-tools (scripts/test does it)"
    );
    node::package_file("axe-core/axe.min.js");
    let (app, _dir) = gateway_app(db).await;
    let beta = app.app.create_tenant("Beta").await;
    app.app.trust_new_tools(&beta).await;
    let scratch = node::scratch_dir(&format!("dashboard-forms-{}", db.backend));
    let mut lines = Vec::new();
    for (javascript, tenant, email) in [
        ("on", &app.tenant, "js@acme.example"),
        ("off", &beta, "nojs@beta.example"),
    ] {
        let setup = seed(&app, tenant, javascript, email).await;
        let setup_file = scratch.join(format!("setup-{javascript}.json"));
        std::fs::write(&setup_file, setup.to_string()).unwrap();
        let shots = scratch.join(format!("javascript-{javascript}"));
        std::fs::create_dir_all(&shots).unwrap();
        let script = node::e2e_dir().join("dashboard_forms.mjs");
        let args: [&OsStr; 13] = [
            script.as_os_str(),
            "--base".as_ref(),
            app.app.url.as_ref(),
            "--outbox".as_ref(),
            app.outbox.as_os_str(),
            "--email".as_ref(),
            email.as_ref(),
            "--setup".as_ref(),
            setup_file.as_os_str(),
            "--screenshots".as_ref(),
            shots.as_os_str(),
            "--javascript".as_ref(),
            javascript.as_ref(),
        ];
        let (output, took) = node::run(&args, &[], LIMIT).await;
        let report = json_report(&output, "the browser script");
        assert_eq!(
            report["error"],
            Value::Null,
            "JavaScript {javascript}: {report:#}"
        );
        let checked = check(&report, javascript);
        lines.push(format!(
            "Chromium dashboard forms and layout [{}, JavaScript {javascript}]: {checked} page \
             states at 1440 and 390 px, none wider than the window, axe clean, {:.1} s",
            db.backend,
            took.as_secs_f64()
        ));
    }
    node::summary(&format!("dashboard-forms-{}", db.backend), &lines);
}

/// Asserts what the script saw; the number of page states checked.
fn check(report: &Value, javascript: &str) -> usize {
    let label = format!("JavaScript {javascript}");
    let pages = report["pages"].as_array().unwrap();
    let schemes = if javascript == "on" { 2 } else { 1 };
    assert!(
        pages.len() >= PAGES * 2 * schemes,
        "{label}: {} pages",
        pages.len()
    );
    for page in pages {
        assert_eq!(
            page["overflow"], false,
            "{label}: scrolls sideways: {page:#}"
        );
        assert_eq!(page["violations"], json!([]), "{label}: {page:#}");
        assert_eq!(
            page["brokenCells"],
            json!([]),
            "{label}: a number, name or id broken in a table cell: {page:#}"
        );
        if javascript == "off" {
            assert_eq!(
                page["inertControls"], 0,
                "{label}: [hidden] shows: {page:#}"
            );
        }
        if let Some(height) = page["chartText"].as_f64() {
            assert!(
                height >= 9.0,
                "{label}: chart text {height} px high: {page:#}"
            );
        }
    }
    let wide_and_narrow = |width: u64| pages.iter().filter(|p| p["width"] == width).count();
    let names = |width: u64| -> Vec<&str> {
        let at = pages.iter().filter(|p| p["width"] == width);
        at.filter_map(|p| p["name"].as_str()).collect()
    };
    assert!(
        wide_and_narrow(1440) >= PAGES && wide_and_narrow(390) >= PAGES,
        "{label}: {:?} {:?}",
        names(1440),
        names(390)
    );
    if javascript == "on" {
        assert!(
            pages.iter().any(|p| p["scheme"] == "dark"),
            "{label}: dark mode checked"
        );
    }
    let checks = &report["checks"];
    for (state, contrast) in checks["focus"].as_object().unwrap() {
        let contrast = contrast.as_f64().unwrap();
        assert!(
            contrast >= 3.0,
            "{label}: focus ring {contrast:.2}:1 at {state}"
        );
    }
    let errors = checks["errors"].as_array().unwrap();
    let forms: Vec<&str> = errors.iter().map(|e| e["form"].as_str().unwrap()).collect();
    assert_eq!(
        forms,
        [
            "server-slug",
            "custom-domain",
            "last-owner",
            "api-key",
            "catalog-entry",
            "walkthrough-import"
        ],
        "{label}"
    );
    for error in errors {
        let status = error["status"].as_u64().unwrap();
        assert!(status == 409 || status == 422, "{label}: {error}");
        assert_eq!(error["framed"], true, "{label}: in the frame: {error}");
        assert_eq!(error["summary"], true, "{label}: {error}");
        assert_eq!(
            error["in_view"], true,
            "{label}: opens at the error: {error}"
        );
        let beside = error["beside"].as_str().unwrap_or_default();
        assert!(
            beside.contains(": ") && !beside.contains('_'),
            "{label}: beside the field, in words: {error}"
        );
        for (field, kept) in error["kept"].as_object().unwrap() {
            assert_eq!(kept, true, "{label}: {field} kept: {error}");
        }
    }
    assert_eq!(checks["attach_pattern_applies"], true, "{label}");
    let asked = checks["asked"].as_array().unwrap();
    let how = if javascript == "on" { "dialog" } else { "page" };
    assert_eq!(asked.len(), 5, "{label}: {asked:?}");
    for action in asked {
        assert_eq!(action["how"], how, "{label}: asks first: {action}");
        assert_eq!(action["kept_after_cancel"], true, "{label}: {action}");
        assert_eq!(action["done"], true, "{label}: {action}");
    }
    if javascript == "off" {
        let walkthrough = asked
            .iter()
            .find(|a| a["action"] == "delete-walkthrough")
            .unwrap();
        let message = walkthrough["message"].as_str().unwrap();
        assert!(
            message.contains("progress") || message.contains("started"),
            "{message}"
        );
    }
    let key = &checks["key"];
    assert_eq!(key["shown_first"], true, "{label}: {key}");
    assert_eq!(key["shown_after_reload"], false, "{label}: {key}");
    assert_eq!(key["rows"], 1, "{label}: one key, not two: {key}");
    pages.len()
}

backend_tests! {
    async fn the_dashboard_forms_and_layout_hold_in_chromium_with_and_without_javascript(db: &TestDatabase) {
        forms_and_layout_in_chromium(db).await;
    }
}
