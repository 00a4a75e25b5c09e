//! Approvals bound to the exact call. A policy asks a member to approve deploys: the call
//! waits (recorded as such) in the queue, is approved through the API, and its retry runs
//! once (the waiting call announced to the organization's webhooks); a second retry, or the
//! same call with another argument, asks again; a denied call is refused; another
//! organization sees nothing. A policy asks the person themself: with the official Python
//! client they are asked by URL elicitation (session era: `URLElicitationRequiredError`,
//! then `notifications/elicitation/complete`) or by an `input_required` round (2026-07-28),
//! approve on the platform's page, which shows the arguments with their invisible
//! characters, and the retry runs. An approval that expired is refused.

use std::time::Duration;

use guidepost_core::secrets::MasterKey;
use guidepost_domain::{Email, Role};
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{Fixture, echo, fixture, fixture_with};
use crate::helpers::python_script;

const MEMBER_APPROVES_DEPLOYS: &str = r#"permit(principal, action, resource);
@id("deploys-need-a-member")
@approval("member")
@reason("deploys are approved by the on-call member.")
forbid(principal, action, resource)
when { resource.tool == "echo" && context.arguments.hasTag("message")
       && context.arguments.getTag("message") like "deploy*" };"#;

const PERSON_APPROVES_DELETES: &str = r#"permit(principal, action, resource);
@id("deletes-need-you")
@approval("person")
@reason("you approve what is deleted in your name.")
forbid(principal, action, resource)
when { resource.tool == "echo" && context.arguments.hasTag("message")
       && context.arguments.getTag("message") like "delete*" };"#;

async fn publish(f: &Fixture, source: &str) {
    let body = json!({ "source": source });
    let (status, published) = f
        .app
        .api(Method::PUT, "/policies", &f.acme.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{published}");
}

async fn pending(f: &Fixture) -> Vec<Value> {
    let (status, listed) = f.app.get("/approvals", &f.acme.key).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed["items"].as_array().unwrap().clone()
}

async fn decide(f: &Fixture, id: &str, verb: &str) -> (StatusCode, Value) {
    let path = format!("/approvals/{id}/{verb}");
    f.app.api(Method::POST, &path, &f.acme.key, None).await
}

/// One call of `fx__echo` of `message` with the official Python client in `mode`, on the
/// personal URL of `ada`, approving on the page it is sent to. The client's report, and
/// the page as it was shown.
async fn python_approving(f: &Fixture, mode: &str, message: &str) -> (Value, String) {
    let dir = std::env::temp_dir().join(format!(
        "guidepost-approve-{}",
        guidepost_domain::random_token("").to_lowercase()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (url_file, done_file) = (dir.join("url"), dir.join("done"));
    let script = {
        let url = format!("{}?tracking_id=ada", f.app.mcp_path_url("acme"));
        let arguments = json!({ "message": message }).to_string();
        let mode = mode.to_owned();
        let files = (
            url_file.display().to_string(),
            done_file.display().to_string(),
        );
        tokio::spawn(async move {
            let args = [
                "--url",
                &url,
                "--tool",
                "fx__echo",
                "--arguments",
                &arguments,
                "--mode",
                &mode,
                "--url-file",
                &files.0,
                "--done-file",
                &files.1,
            ];
            python_script("connect_call.py", &args).await
        })
    };
    let mut link = String::new();
    while link.is_empty() && !script.is_finished() {
        tokio::time::sleep(Duration::from_millis(50)).await;
        link = std::fs::read_to_string(&url_file).unwrap_or_default();
    }
    assert!(
        !link.is_empty(),
        "no link; the client said {}",
        script.await.unwrap()
    );
    let page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    let form = [("decision", "approve")];
    let approved = reqwest::Client::new()
        .post(&link)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), StatusCode::OK);
    std::fs::write(&done_file, "approved").unwrap();
    let report = script.await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (report, page)
}

/// The mails in `outbox` once there are `count` of them (a minute's hang guard).
async fn mails_in(outbox: &std::path::Path, count: usize) -> Vec<String> {
    let read = || -> Vec<String> {
        std::fs::read_dir(outbox)
            .map(|entries| {
                entries
                    .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    // The outbox writes quoted-printable: long lines are cut with a soft break.
    let decoded = |mail: String| {
        mail.replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=")
    };
    for _ in 0..600 {
        let mails: Vec<String> = read().into_iter().map(decoded).collect();
        if mails.len() >= count {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "expected {count} mails in {}; they did not come within a minute",
        outbox.display()
    );
}

backend_tests! {
    async fn a_member_approves_exactly_one_call_and_any_change_asks_again(db: &TestDatabase) {
        let outbox = std::env::temp_dir().join(format!(
            "guidepost-approval-mail-{}", guidepost_domain::random_token("").to_lowercase()));
        let dir = outbox.clone();
        let f = fixture_with(db, "acme", 60_000, &[], |settings| {
            settings.platform.master_key = Some(MasterKey::from_bytes([5; 32]));
            settings.auth.mail_outbox = dir;
        })
        .await;
        for (email, role) in [("owner@acme.example", Role::Owner), ("editor@acme.example", Role::Editor),
                              ("viewer@acme.example", Role::Viewer)] {
            f.app.store.create_member(&f.acme.org, &Email::parse(email).unwrap(), role).await.unwrap();
        }
        publish(&f, MEMBER_APPROVES_DEPLOYS).await;
        let hook = json!({"url": "https://hooks.acme.example/approvals", "events": ["approval.requested"]});
        let (status, hook) = f.app.api(Method::POST, "/webhooks", &f.acme.key, Some(hook)).await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        let deliveries = format!("/webhooks/{}/deliveries", hook["id"].as_str().unwrap());
        assert_eq!(echo(&f, 1, "status").await, (false, "status".to_owned()), "not asked");
        let sample = json!({"server_id": f.server, "tool": "fx__echo",
            "arguments": {"message": "deploy v2"}, "caller": {"kind": "end_user"}});
        let (status, tried) = f.app.api(Method::POST, "/policies/test", &f.acme.key, Some(sample)).await;
        assert_eq!(status, StatusCode::OK, "{tried}");
        assert_eq!(tried["decision"], "approval", "would this call pass? {tried}");
        assert_eq!(tried["policy"], "deploys-need-a-member", "{tried}");

        let (is_error, text) = echo(&f, 2, "deploy v2").await;
        assert!(is_error, "{text}");
        assert!(text.starts_with("This call needs the approval of a member of the organization \
            (policy `deploys-need-a-member`: deploys are approved by the on-call member)."), "{text}");
        let waiting = pending(&f).await;
        assert_eq!(waiting.len(), 1, "{waiting:?}");
        let first = waiting[0]["id"].as_str().unwrap().to_owned();
        assert!(text.contains(&first), "the agent is told which approval: {text}");
        assert_eq!(waiting[0]["tool"], "fx__echo");
        assert_eq!(waiting[0]["arguments"], r#"{"message":"deploy v2"}"#);
        assert_eq!(waiting[0]["approver"], "member");
        // Retried before a decision, the same call waits in the queue once, announced once.
        assert!(echo(&f, 3, "deploy v2").await.0);
        assert_eq!(pending(&f).await.len(), 1);
        let (_, announced) = f.app.get(&deliveries, &f.acme.key).await;
        let announced = announced["items"].as_array().unwrap().clone();
        assert_eq!(announced.len(), 1, "{announced:?}");
        assert_eq!(announced[0]["event"], "approval.requested", "{announced:?}");
        // And mailed, once, to the members who may decide it: not to the viewer.
        let mails = mails_in(&outbox, 2).await;
        let to: Vec<&str> = mails.iter().filter_map(|mail| mail.lines().find_map(|l| l.strip_prefix("To: "))).collect();
        assert!(to.contains(&"owner@acme.example") && to.contains(&"editor@acme.example"), "{to:?}");
        assert!(mails[0].contains("Subject: Approve a call of fx__echo on "), "{}", mails[0]);
        assert!(mails[0].contains("/app/gateway/approvals") && mails[0].contains(&first), "{}", mails[0]);
        assert!(!mails[0].contains("deploy v2"), "the arguments stay behind sign-in: {}", mails[0]);

        // Another organization neither sees nor decides it.
        let other = f.app.create_tenant("Other").await;
        let (_, theirs) = f.app.get("/approvals", &other.key).await;
        assert_eq!(theirs["items"], json!([]), "{theirs}");
        let (status, _) = f.app.api(Method::POST, &format!("/approvals/{first}/approve"), &other.key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, approved) = decide(&f, &first, "approve").await;
        assert_eq!(status, StatusCode::OK, "{approved}");
        assert_eq!(approved["status"], "approved");
        let (status, _) = decide(&f, &first, "reject").await;
        assert_eq!(status, StatusCode::CONFLICT, "decided once");

        // Exactly that call runs, once.
        assert_eq!(echo(&f, 4, "deploy v2").await, (false, "deploy v2".to_owned()));
        assert!(echo(&f, 5, "deploy v2").await.0, "a second run asks again");
        // One argument changed asks again, under another approval.
        let (is_error, text) = echo(&f, 6, "deploy v3").await;
        assert!(is_error && !text.contains(&first), "{text}");
        let waiting = pending(&f).await;
        assert_eq!(waiting.len(), 2, "{waiting:?}");
        let v3 = waiting.iter().find(|a| a["arguments"] == r#"{"message":"deploy v3"}"#).unwrap();
        let (status, _) = decide(&f, v3["id"].as_str().unwrap(), "reject").await;
        assert_eq!(status, StatusCode::OK);
        let (is_error, text) = echo(&f, 7, "deploy v3").await;
        assert!(is_error && text.contains("denied this call"), "{text}");

        // Waiting calls are recorded as such; the decisions are audited.
        let calls = f.app.wait_for_tool_calls(&f.acme, 7).await;
        assert_eq!(calls.iter().filter(|c| c["refusal"] == "approval").count(), 5, "{calls:?}");
        let (_, audited) = f.app.get("/audit-events?type=approval", &f.acme.key).await;
        let actions: Vec<&str> = audited["items"].as_array().unwrap().iter()
            .filter_map(|e| e["action"].as_str()).collect();
        assert_eq!(actions, ["approval.denied", "approval.approved"], "{audited}");
        // Three approvals were asked (v2, v2 again after it ran, v3): two mails each.
        assert_eq!(mails_in(&outbox, 6).await.len(), 6);
        let _ = std::fs::remove_dir_all(&outbox);
    }

    async fn an_approval_that_expired_is_refused(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], |settings| {
            settings.platform.approval_expiry = Duration::ZERO;
        })
        .await;
        publish(&f, MEMBER_APPROVES_DEPLOYS).await;
        let (is_error, text) = echo(&f, 1, "deploy v2").await;
        assert!(is_error, "{text}");
        let (_, all) = f.app.get("/approvals?status=pending", &f.acme.key).await;
        let id = all["items"][0]["id"].as_str().unwrap().to_owned();
        let (status, refused) = decide(&f, &id, "approve").await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        assert!(refused.to_string().contains("has expired"), "{refused}");
        assert!(echo(&f, 2, "deploy v2").await.0, "nothing runs on an expired approval");
    }

    async fn the_person_approves_their_own_call_on_the_platform_page_in_both_eras(db: &TestDatabase) {
        let f = fixture(db, "acme", 60_000).await;
        publish(&f, PERSON_APPROVES_DELETES).await;

        // Session era: URLElicitationRequiredError; once approved, the session is told,
        // and the client's retry runs the call.
        let (report, page) = python_approving(&f, "legacy", "delete\u{200b} the draft").await;
        assert_eq!(report["error"], Value::Null, "{report}");
        assert_eq!(report["error_code"], -32042, "{report}");
        let asked = &report["elicitations"][0];
        assert_eq!(asked["mode"], "url", "{report}");
        assert_eq!(report["completed_elicitation"], asked["elicitationId"], "{report}");
        assert_eq!(report["is_error"], false, "{report}");
        // The gateway takes hidden characters out of upstreams' results, not arguments.
        assert_eq!(report["text"], "delete the draft", "{report}");
        assert!(page.contains("<code>fx__echo</code>") && page.contains("deletes-need-you"), "{page}");
        assert!(page.contains(r#"{&quot;message&quot;:&quot;delete<mark>U+200B</mark> the draft&quot;}"#),
            "the arguments as the tool receives them, the invisible character shown: {page}");

        // The 2026-07-28 era: an `input_required` round with the URL elicitation.
        let (report, _) = python_approving(&f, "2026-07-28", "delete the cache").await;
        assert_eq!(report["error"], Value::Null, "{report}");
        assert_eq!(report["error_code"], Value::Null, "{report}");
        assert_eq!(report["asked_urls"].as_array().map(Vec::len), Some(1), "one round: {report}");
        assert_eq!(report["is_error"], false, "{report}");
        assert_eq!(report["text"], "delete the cache", "{report}");

        // Without a known person, nobody can approve: refused, saying how to be known.
        let (is_error, text) = echo(&f, 1, "delete everything").await;
        assert!(is_error && text.contains("this caller is not known"), "{text}");
    }
}
