//! The official conformance suite's authorization-server scenarios
//! (`conformance authorization`: the metadata endpoint and the authorization-code grant)
//! against the issuers of `platform_oauth` servers, with no expected-failures file.
//!
//! The suite prints an authorization URL and waits for a browser to come back to its
//! callback server on `http://127.0.0.1:<port>/callback`. This test is that browser's
//! person: it watches the suite's output for the URL, signs in on the real pages (the
//! one-time code read from the outbox), approves, and follows the redirect to the suite.
//! The client the suite uses is registered first by dynamic registration (public, PKCE),
//! with that callback as its redirect URI; `--resource` is the server's MCP URL (RFC 8707,
//! which Guidepost requires).
//!
//! Two issuers: the path fallback (`http://127.0.0.1:PORT/s/acme`), and a server's own
//! virtual host, its custom domain `127.0.0.1` (`http://127.0.0.1:PORT`: the one host name
//! that needs no DNS here).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::node;
use crate::oauth_helpers::{OAuthApp, oauth_app};

const SUITE: &str = "@modelcontextprotocol/conformance/dist/index.js";
/// Bounds a hung run; a normal one takes a few seconds.
const RUN_LIMIT: Duration = Duration::from_secs(240);
const EMAIL: &str = "conformance@example.com";

/// A port nothing listens on right now, for the suite's callback server.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The person at the browser: signs in at `authorize_url` and approves; returns where the
/// browser is sent back to.
async fn sign_in_and_approve(oauth: &OAuthApp, authorize_url: &str) -> String {
    let mut person = oauth.person(EMAIL);
    let (login, page) = person.start(authorize_url).await;
    let code_page = person.send_email(&login, &page).await;
    let code = oauth.code_for(EMAIL);
    let signed_in = person.send_code(&code_page, &code).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let consent = person.get(&login).await;
    let answer = person
        .post(
            &consent.action("/consent"),
            &[("csrf_token", &consent.csrf()), ("decision", "approve")],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    answer.location.expect("a redirect back to the suite")
}

/// Runs `conformance authorization` against `issuer`, playing the person when the suite
/// asks for a browser; returns the suite's exit status, its output and how long it took.
async fn run_suite(
    oauth: &OAuthApp,
    issuer: &str,
    resource: &str,
    results: &Path,
) -> (Option<i32>, String, Duration) {
    let port = free_port();
    let callback = format!("http://127.0.0.1:{port}/callback");
    let response = oauth
        .app
        .http
        .post(format!("{issuer}/register"))
        .json(
            &json!({"client_name": "MCP conformance suite", "redirect_uris": [callback],
            "grant_types": ["authorization_code"], "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let client: Value = response.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap();

    let started = Instant::now();
    let mut child = tokio::process::Command::new(node::node())
        .arg(node::package_file(SUITE))
        .args(["authorization", "--url", issuer, "--client-id", client_id])
        .args(["--resource", resource, "--port", &port.to_string()])
        .arg("--output-dir")
        .arg(results)
        .current_dir(node::e2e_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the conformance suite");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = child.stderr.take().unwrap();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let authorize_prefix = format!("{issuer}/authorize?");
    let play = async {
        let mut output = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            output.push_str(&line);
            output.push('\n');
            if line.trim().starts_with(&authorize_prefix) {
                let back = sign_in_and_approve(oauth, line.trim()).await;
                assert!(back.starts_with(&callback), "{back}");
                let answered = reqwest::get(&back)
                    .await
                    .expect("the suite's callback server answers");
                assert_eq!(answered.status(), StatusCode::OK);
            }
        }
        let status = child.wait().await.expect("the suite exits");
        (status.code(), output)
    };
    let (code, output) = tokio::time::timeout(RUN_LIMIT, play)
        .await
        .unwrap_or_else(|_| {
            panic!("conformance authorization did not finish within {RUN_LIMIT:?}")
        });
    let errors = errors.await.unwrap_or_default();
    (code, format!("{output}{errors}"), started.elapsed())
}

/// Check statuses per scenario, from the `checks.json` files of a results directory.
fn tally(results: &Path) -> BTreeMap<String, Vec<(String, String, String)>> {
    let mut scenarios = BTreeMap::new();
    for entry in std::fs::read_dir(results)
        .expect("the suite wrote results")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("authorization-server-") else {
            continue;
        };
        // `<scenario>-<YYYY-MM-DDTHH-MM-SS-mmmZ>`
        let scenario = rest
            .get(..rest.len().saturating_sub(25))
            .unwrap_or(rest)
            .to_owned();
        let text = std::fs::read_to_string(entry.path().join("checks.json")).unwrap();
        let checks: Vec<Value> = serde_json::from_str(&text).unwrap();
        let found = checks
            .iter()
            .map(|c| {
                let field = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
                (field("id"), field("status"), field("errorMessage"))
            })
            .collect();
        scenarios.insert(scenario, found);
    }
    scenarios
}

async fn authorization_scenarios_pass(db: &TestDatabase) {
    let oauth = oauth_app(db, &["acme"], |_| {}).await;
    let body = json!({"auth_mode": "platform_oauth"});
    oauth
        .app
        .create_server_at_domain(&oauth.tenant, "local", "127.0.0.1", body)
        .await;
    let port = oauth.app.app.addr.port();
    let targets = [
        (
            "path fallback",
            oauth.issuer("acme"),
            oauth.resource("acme"),
        ),
        (
            "vhost 127.0.0.1, custom domain",
            format!("http://127.0.0.1:{port}"),
            format!("http://127.0.0.1:{port}/mcp"),
        ),
    ];
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    for (how, issuer, resource) in &targets {
        let label = how.split(',').next().unwrap_or(how).replace(' ', "-");
        let results = node::scratch_dir(&format!("conformance-auth/{}-{label}", db.backend));
        let (code, output, took) = run_suite(&oauth, issuer, resource, &results).await;
        let scenarios = tally(&results);
        let checks: Vec<&(String, String, String)> = scenarios.values().flatten().collect();
        let count = |status: &str| checks.iter().filter(|c| c.1 == status).count();
        lines.push(format!(
            "conformance authorization [{}] via {issuer} ({how}): checks {} passed, {} failed \
             ({} warnings, {} skipped) in {} scenarios ({}), {:.1} s",
            db.backend,
            count("SUCCESS"),
            count("FAILURE"),
            count("WARNING"),
            count("SKIPPED"),
            scenarios.len(),
            scenarios.keys().cloned().collect::<Vec<_>>().join(", "),
            took.as_secs_f64()
        ));
        let problems: Vec<_> = checks.iter().filter(|c| c.1 != "SUCCESS").collect();
        let expected = [
            "authorization-server-metadata-endpoint",
            "authorization-code-grant",
        ];
        let missing: Vec<_> = expected
            .iter()
            .filter(|s| !scenarios.contains_key(**s))
            .collect();
        if code != Some(0) || !problems.is_empty() || !missing.is_empty() {
            failures.push(format!(
                "{issuer}: exit {code:?}, not passed {problems:?}, missing {missing:?}\n{output}"
            ));
        }
    }
    node::summary(&format!("conformance-authorization-{}", db.backend), &lines);
    // What the suite did is what any client does: a person and a grant.
    let (_, users) = oauth
        .app
        .get(&format!("/end-users?email={EMAIL}"), &oauth.tenant.key)
        .await;
    assert_eq!(users["items"][0]["email_verified"], true, "{users}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

backend_tests! {
    async fn conformance_authorization_scenarios_pass_against_server_issuers(db: &TestDatabase) {
        authorization_scenarios_pass(db).await;
    }
}
