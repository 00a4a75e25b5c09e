//! Call-time policies (Cedar): published through the API, they decide each tool call
//! before it reaches its tool. With the official Python client in both eras, a
//! `read_file` outside `/workspace` is refused with a tool error naming the policy and
//! its reason, one inside passes; refusals are recorded as such; turning the policies
//! off lets the call through; another organization's policies do not reach this one.
//! The API checks drafts, tries sample calls, keeps versions, and lets only who runs
//! the gateway publish.

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{Fixture, fixture_with};
use crate::helpers::{TestApp, python_smoke, unlimited_app_with_server};

const WORKSPACE_ONLY: &str = r#"
permit(principal, action, resource);

@id("files-stay-in-workspace")
@reason("read_file may only read under /workspace/; ask the user to copy the file there.")
forbid(principal, action == Guidepost::Action::"call_tool", resource)
when { resource.tool == "read_file" }
unless {
    context.arguments.hasTag("path") &&
    context.arguments.getTag("path") like "/workspace/*" &&
    !(context.arguments.getTag("path") like "*..*")
};
"#;

fn read_file_tool() -> Value {
    json!({"name": "read_file", "description": "Reads a file.",
           "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}},
                           "required": ["path"]},
           "annotations": {"readOnlyHint": true}})
}

async fn fixture_with_read_file(db: &TestDatabase) -> (Fixture, std::path::PathBuf) {
    let file = std::env::temp_dir().join(format!(
        "guidepost-policies-{}-{}.json",
        std::process::id(),
        db.backend
    ));
    std::fs::write(&file, json!([read_file_tool()]).to_string()).unwrap();
    let path = file.display().to_string();
    let f = fixture_with(db, "acme", 60_000, &[("FIXTURE_TOOLS", &path)], |_| {}).await;
    (f, file)
}

async fn publish(app: &TestApp, key: &str, source: &str) -> (StatusCode, Value) {
    let body = json!({ "source": source });
    app.api(Method::PUT, "/policies", key, Some(body)).await
}

/// `fx__read_file` of `path` with the official Python client in `mode`: (is_error, text).
async fn read_with_python(app: &TestApp, mode: &str, path: &str) -> (bool, String) {
    let arguments = json!({ "path": path }).to_string();
    let report = python_smoke(&[
        "--url",
        &app.mcp_path_url("acme"),
        "--mode",
        mode,
        "--call-tool",
        "fx__read_file",
        "--arguments",
        &arguments,
        "--allow-tool-error",
    ])
    .await;
    assert_eq!(report["error"], Value::Null, "{mode}: {report}");
    let call = &report["call"];
    let text = call["text"].as_str().unwrap_or_default().to_owned();
    (call["is_error"] == true, text)
}

backend_tests! {
    async fn a_policy_keeps_read_file_in_the_workspace_in_both_eras(db: &TestDatabase) {
        let (f, file) = fixture_with_read_file(db).await;
        let (status, published) = publish(&f.app, &f.acme.key, WORKSPACE_ONLY).await;
        assert_eq!(status, StatusCode::OK, "{published}");
        assert_eq!(published["version"]["version"], 1, "{published}");
        assert_eq!(published["version"]["names"], json!(["policy 1", "files-stay-in-workspace"]));
        assert_eq!(published["warnings"], json!([]), "{published}");

        for mode in ["legacy", "2026-07-28"] {
            let (is_error, text) = read_with_python(&f.app, mode, "/workspace/notes.md").await;
            assert!(!is_error, "{mode}: {text}");
            assert_eq!(text, "read_file ran", "{mode}");
            for outside in ["/home/ada/.ssh/id_rsa", "/workspace/../etc/passwd"] {
                let (is_error, text) = read_with_python(&f.app, mode, outside).await;
                assert!(is_error, "{mode} {outside}: {text}");
                assert_eq!(
                    text,
                    "Refused by policy `files-stay-in-workspace`: read_file may only read \
                     under /workspace/; ask the user to copy the file there.",
                    "{mode} {outside}"
                );
            }
        }
        // Refusals are recorded as refused by a policy, with the upstream they spared.
        let calls = f.app.wait_for_tool_calls(&f.acme, 6).await;
        let refused: Vec<&Value> = calls.iter().filter(|c| c["refusal"] == "policy").collect();
        assert_eq!(refused.len(), 4, "{calls:?}");
        assert!(refused.iter().all(|c| c["upstream_id"] == f.upstream.as_str() && c["is_error"] == true));

        // Another organization's policies are its own.
        let other = f.app.create_tenant("Other").await;
        let (status, _) = publish(&f.app, &other.key, "forbid(principal, action, resource);").await;
        assert_eq!(status, StatusCode::OK);
        let (is_error, text) = read_with_python(&f.app, "legacy", "/workspace/a.md").await;
        assert!(!is_error, "another organization's forbid reached acme: {text}");
        let (_, theirs) = f.app.get("/policies", &other.key).await;
        assert_eq!(theirs["in_force"]["names"], json!(["policy 1"]), "{theirs}");

        // Turned off, the policies decide nothing.
        let (status, off) = publish(&f.app, &f.acme.key, "").await;
        assert_eq!(status, StatusCode::OK, "{off}");
        assert_eq!(off["version"]["version"], 2, "{off}");
        let (is_error, text) = read_with_python(&f.app, "2026-07-28", "/etc/passwd").await;
        assert!(!is_error && text == "read_file ran", "{text}");

        let (_, audit) = f.app.get("/audit-events?type=policy", &f.acme.key).await;
        let texts: Vec<&str> = audit["items"].as_array().unwrap().iter()
            .map(|event| event["text"].as_str().unwrap()).collect();
        assert_eq!(texts.len(), 2, "{audit}");
        assert!(texts[0].contains("turned the call-time policies off"), "{texts:?}");
        assert!(texts[1].contains("published the call-time policies"), "{texts:?}");
        let _ = std::fs::remove_file(file);
    }

    async fn drafts_are_checked_tried_and_kept_as_versions(db: &TestDatabase) {
        let (app, acme, server) = unlimited_app_with_server(db, "acme", json!({})).await;
        let (status, empty) = app.get("/policies", &acme.key).await;
        assert_eq!((status, &empty["in_force"]), (StatusCode::OK, &Value::Null));

        // A typo is refused with what the schema lacks, before anything is stored.
        let typo = r#"@id("typo") forbid(principal, action, resource) when { resource.nmae == "x" };"#;
        let (status, problem) = publish(&app, &acme.key, typo).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        let detail = problem.to_string();
        assert!(detail.contains("typo") && detail.contains("nmae"), "{problem}");
        let (status, problem) = publish(&app, &acme.key, "permit(principal, action, resource)").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        let huge = "x".repeat(64 * 1024 + 1);
        let (status, _) = publish(&app, &acme.key, &huge).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (_, still) = app.get("/policies", &acme.key).await;
        assert_eq!(still["in_force"], Value::Null, "a refused draft was stored: {still}");

        // A draft is checked without being published, with a warning when it permits nothing.
        let forbid_only = r#"forbid(principal, action, resource) when { resource.tool == "x" };"#;
        let draft = json!({ "source": forbid_only });
        let (status, checked) = app.api(Method::POST, "/policies/check", &acme.key, Some(draft)).await;
        assert_eq!(status, StatusCode::OK, "{checked}");
        assert!(checked["warnings"][0].as_str().unwrap().contains("every call is refused"), "{checked}");

        // "Would this call pass?", against a draft and against the policies in force.
        let sample = |source: Option<&str>, path: &str| json!({
            "source": source, "server_id": server, "tool": "read_file",
            "arguments": {"path": path}, "caller": {"kind": "person", "email": "ada@example.com"},
            "annotations": {"readOnlyHint": true}});
        let (status, denied) = app.api(Method::POST, "/policies/test", &acme.key,
            Some(sample(Some(WORKSPACE_ONLY), "/etc/passwd"))).await;
        assert_eq!(status, StatusCode::OK, "{denied}");
        assert_eq!(denied["decision"], "deny", "{denied}");
        assert_eq!(denied["policy"], "files-stay-in-workspace", "{denied}");
        let (_, allowed) = app.api(Method::POST, "/policies/test", &acme.key,
            Some(sample(Some(WORKSPACE_ONLY), "/workspace/a"))).await;
        assert_eq!((allowed["decision"].as_str(), &allowed["version"]), (Some("allow"), &Value::Null), "{allowed}");
        let (status, published) = publish(&app, &acme.key, WORKSPACE_ONLY).await;
        assert_eq!(status, StatusCode::OK, "{published}");
        let (_, in_force) = app.api(Method::POST, "/policies/test", &acme.key,
            Some(sample(None, "/root/x"))).await;
        assert_eq!((in_force["decision"].as_str(), &in_force["version"]), (Some("deny"), &json!(1)), "{in_force}");

        // Versions are kept, newest first; the schema is published.
        publish(&app, &acme.key, forbid_only).await;
        let (_, versions) = app.get("/policies/versions", &acme.key).await;
        let numbers: Vec<&Value> = versions["items"].as_array().unwrap().iter().map(|v| &v["version"]).collect();
        assert_eq!(numbers, [&json!(2), &json!(1)], "{versions}");
        let (status, first) = app.get("/policies/versions/1", &acme.key).await;
        assert_eq!((status, first["source"].as_str()), (StatusCode::OK, Some(WORKSPACE_ONLY)));
        let (status, _) = app.get("/policies/versions/3", &acme.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let schema = app.http.get(format!("{}/api/v1/policies/schema", app.url))
            .bearer_auth(&acme.key).send().await.unwrap().text().await.unwrap();
        assert!(schema.contains("action call_tool") && schema.contains("entity Arguments tags String"), "{schema}");

        // A read-only key reads but does not publish, check or try; another organization
        // sees none of it.
        let reader = app.key_with(&acme.key, "reader", json!(["read"])).await;
        let (status, _) = publish(&app, &reader, "").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.api(Method::POST, "/policies/check", &reader, Some(json!({"source": ""}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app.get("/policies", &reader).await;
        assert_eq!(status, StatusCode::OK);
        let other = app.create_tenant("Other").await;
        let (_, theirs) = app.get("/policies", &other.key).await;
        assert_eq!(theirs["in_force"], Value::Null, "{theirs}");
        let (status, _) = app.get("/policies/versions/1", &other.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.api(Method::POST, "/policies/test", &other.key,
            Some(sample(None, "/workspace/a"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another organization's server");
    }
}
