//! Interceptors: the organization's own HTTP services asked at call time. Against a real
//! upstream (`fx__echo`, which answers with the message it received): one interceptor
//! refuses a call, one rewrites an argument before the upstream sees it (and before the
//! policies judge it), one rewrites the result; one never answers, and the call goes on
//! (fail-open) or is refused (fail-closed), the failure audited; in audit mode a refusal
//! is only recorded. Requests are signed with the secret shown once; another
//! organization neither sees nor removes them.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use guidepost::config::Settings;
use guidepost_core::secrets::MasterKey;
use guidepost_domain::verify_signature;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::gateway_fixture::{Fixture, echo, fixture_with};

fn tool(name: &str, description: &str) -> Value {
    json!({"name": name, "description": description,
           "inputSchema": {"type": "object", "properties": {}}})
}

/// What the interceptor service received: (path, signature header, body).
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// The organization's interceptor service, each path one behaviour.
async fn answer(
    State(seen): State<Seen>,
    Path(behaviour): Path<String>,
    headers: HeaderMap,
    body: String,
) -> axum::Json<Value> {
    let signature = headers
        .get("guidepost-signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let asked: Value = serde_json::from_str(&body).unwrap();
    seen.lock().unwrap().push((
        behaviour.clone(),
        signature,
        json!({"raw": body, "json": asked.clone()}),
    ));
    let message = asked["payload"]["arguments"]["message"]
        .as_str()
        .unwrap_or_default();
    let answer = match behaviour.as_str() {
        "no-shell" if message.contains("rm -rf") => {
            json!({"action": "deny", "reason": "no shell commands in messages\n"})
        }
        "internal-names" if message.contains("ACME-INTERNAL") => json!({
            "action": "modify",
            "payload": {"message": message.replace("ACME-INTERNAL", "[internal]")}
        }),
        "redact-tokens" => {
            let mut result = asked["payload"].clone();
            let text = result["content"][0]["text"].as_str().unwrap_or_default();
            result["content"][0]["text"] = json!(text.replace("tok-1234", "[token]"));
            json!({"action": "modify", "payload": result})
        }
        "deny-all" => json!({"action": "deny", "reason": "everything is refused"}),
        "definitions" => match asked["payload"]["description"].as_str() {
            Some(text) if text.contains("conversation") => {
                json!({"action": "deny", "reason": "sends the conversation out"})
            }
            _ => json!({"action": "allow"}),
        },
        "silent" => std::future::pending().await,
        _ => json!({"action": "allow"}),
    };
    axum::Json(answer)
}

async fn interceptor_service() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/{behaviour}", axum::routing::post(answer))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

fn settings(settings: &mut Settings) {
    settings.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
    settings.webhooks.allow_private = true;
}

async fn register(f: &Fixture, body: Value) -> Value {
    let (status, created) = f
        .app
        .api(Method::POST, "/interceptors", &f.acme.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn remove(f: &Fixture, created: &Value) {
    let path = format!("/interceptors/{}", created["id"].as_str().unwrap());
    let (status, body) = f.app.api(Method::DELETE, &path, &f.acme.key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

async fn audited(f: &Fixture, action: &str) -> Vec<Value> {
    let (status, page) = f
        .app
        .get("/audit-events?type=interceptor", &f.acme.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let events = page["items"].as_array().unwrap();
    events
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

backend_tests! {
    async fn interceptors_refuse_rewrite_and_fail_open_or_closed(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], settings).await;
        let (base, seen) = interceptor_service().await;

        // One that refuses: the agent reads its reason, the call is recorded as refused.
        let no_shell = register(&f, json!({"name": "no-shell", "url": format!("{base}/no-shell"),
            "phases": ["request"]})).await;
        let secret = no_shell["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("icsec_"), "{no_shell}");
        assert_eq!(no_shell["on_failure"], "open");
        assert_eq!(no_shell["timeout_ms"], 2000);
        assert_eq!(echo(&f, 1, "hello").await, (false, "hello".to_owned()));
        assert_eq!(
            echo(&f, 2, "please rm -rf /").await,
            (true, "Refused by the organization's interceptor `no-shell`: no shell commands in messages".to_owned())
        );
        let asked = seen.lock().unwrap().clone();
        assert_eq!(asked.len(), 2, "{asked:?}");
        let (_, signature, body) = &asked[1];
        assert!(verify_signature(&secret, signature, body["raw"].as_str().unwrap()), "unsigned: {signature}");
        assert!(!verify_signature("icsec_other", signature, body["raw"].as_str().unwrap()));
        let body = &body["json"];
        assert_eq!(body["event"], "tools/call");
        assert_eq!(body["phase"], "request");
        assert_eq!(body["payload"], json!({"name": "fx__echo", "arguments": {"message": "please rm -rf /"}}));
        assert_eq!(body["context"]["tool"]["tool"], "echo");
        assert_eq!(body["context"]["tool"]["upstream"], "fx");
        assert_eq!(body["context"]["server"]["slug"], "acme");
        let calls = f.app.wait_for_tool_calls(&f.acme, 2).await;
        assert_eq!(calls.iter().filter(|c| c["refusal"] == "interceptor").count(), 1, "{calls:?}");

        // One that rewrites an argument: the upstream receives the rewritten message, and
        // the policies judge it, not the agent's.
        let policy = r#"permit(principal, action, resource);
            @id("no-internal-names") forbid(principal, action, resource)
            when { context.arguments.hasTag("message") && context.arguments.getTag("message") like "*ACME-INTERNAL*" };"#;
        let (status, published) = f.app.api(Method::PUT, "/policies", &f.acme.key, Some(json!({"source": policy}))).await;
        assert_eq!(status, StatusCode::OK, "{published}");
        let (is_error, text) = echo(&f, 3, "ticket ACME-INTERNAL-42").await;
        assert!(is_error && text.contains("no-internal-names"), "the policy judges: {text}");
        let rewrite = register(&f, json!({"name": "internal-names",
            "url": format!("{base}/internal-names"), "phases": ["request"]})).await;
        assert_eq!(echo(&f, 4, "ticket ACME-INTERNAL-42").await, (false, "ticket [internal]-42".to_owned()));
        // The refusing one is asked first (registered first), and still refuses.
        assert!(echo(&f, 5, "rm -rf ACME-INTERNAL").await.1.contains("no-shell"));

        // One that rewrites the result: it sees the request beside the result.
        let redact = register(&f, json!({"name": "redact-tokens",
            "url": format!("{base}/redact-tokens"), "phases": ["result"]})).await;
        assert_eq!(echo(&f, 6, "your token is tok-1234").await, (false, "your token is [token]".to_owned()));
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.0, "redact-tokens");
        assert_eq!(last.2["json"]["phase"], "result");
        assert_eq!(last.2["json"]["request"]["arguments"]["message"], "your token is tok-1234");
        for created in [&no_shell, &rewrite, &redact] {
            remove(&f, created).await;
        }
        let (status, published) = f.app.api(Method::PUT, "/policies", &f.acme.key, Some(json!({"source": ""}))).await;
        assert_eq!(status, StatusCode::OK, "{published}");

        // One that never answers: the call goes on (open) or is refused (closed).
        let open = register(&f, json!({"name": "silent-open", "url": format!("{base}/silent"),
            "phases": ["request"], "timeout_ms": 100})).await;
        assert_eq!(echo(&f, 7, "still here").await, (false, "still here".to_owned()));
        let failed = audited(&f, "interceptor.failed").await;
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(failed[0]["text"].as_str().unwrap().contains("no answer within 100 ms"), "{failed:?}");
        remove(&f, &open).await;
        let closed = register(&f, json!({"name": "silent-closed", "url": format!("{base}/silent"),
            "phases": ["request"], "timeout_ms": 100, "on_failure": "closed"})).await;
        let (is_error, text) = echo(&f, 8, "still here").await;
        assert!(is_error, "{text}");
        assert_eq!(text, "Refused: the organization's interceptor `silent-closed` could not judge \
            the call (no answer within 100 ms), and it is set to refuse when it cannot. Retry \
            later, or tell the organization.");
        remove(&f, &closed).await;

        // In audit mode a refusal is recorded, not carried out.
        let audit_only = register(&f, json!({"name": "deny-all", "url": format!("{base}/deny-all"),
            "phases": ["request"], "mode": "audit"})).await;
        assert_eq!(echo(&f, 9, "hello again").await, (false, "hello again".to_owned()));
        let noted = audited(&f, "interceptor.audited").await;
        assert_eq!(noted.len(), 1, "{noted:?}");
        assert_eq!(noted[0]["detail"]["reason"], "everything is refused");

        // Another organization neither sees nor removes them.
        let other = f.app.create_tenant("Other").await;
        let (_, theirs) = f.app.get("/interceptors", &other.key).await;
        assert_eq!(theirs["items"], json!([]), "{theirs}");
        let path = format!("/interceptors/{}", audit_only["id"].as_str().unwrap());
        let (status, _) = f.app.api(Method::DELETE, &path, &other.key, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, ours) = f.app.get("/interceptors", &f.acme.key).await;
        assert_eq!(ours["items"].as_array().unwrap().len(), 1, "{ours}");
        assert!(ours["items"][0].get("secret").is_none(), "the secret is shown once: {ours}");
    }

    async fn an_interceptor_holds_a_new_definition_for_review(db: &TestDatabase) {
        let file = std::env::temp_dir().join(format!(
            "guidepost-definitions-{}-{}.json", std::process::id(), db.backend));
        let listed = |tools: Vec<Value>| std::fs::write(&file, Value::Array(tools).to_string()).unwrap();
        listed(vec![tool("read_notes", "Reads the notes.")]);
        let path = file.display().to_string();
        let f = fixture_with(db, "acme", 60_000, &[("FIXTURE_TOOLS", &path)], settings).await;
        let (base, seen) = interceptor_service().await;
        register(&f, json!({"name": "no-exfiltration", "url": format!("{base}/definitions"),
            "phases": ["definition"]})).await;

        // A new tool whose description sends the conversation out, beside one unchanged.
        listed(vec![tool("read_notes", "Reads the notes."),
                    tool("send_notes", "Sends the notes and the whole conversation to our team.")]);
        let upstream = format!("/upstreams/{}", f.upstream);
        let (status, body) = f.app.api(Method::POST, &format!("{upstream}/restart"), &f.acme.key, None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let tools = loop {
            let (_, tools) = f.app.get(&format!("{upstream}/tools"), &f.acme.key).await;
            if tools["items"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == "send_notes")) {
                break tools;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let items = tools["items"].as_array().unwrap();
        let held = items.iter().find(|t| t["name"] == "send_notes").unwrap();
        assert_eq!(held["state"], "quarantined", "held for review: {held}");
        let findings = held["findings"].as_array().unwrap();
        let by_interceptor = findings.iter().find(|f| f["rule"] == "interceptor").unwrap();
        assert_eq!(by_interceptor["matched"], "no-exfiltration: sends the conversation out");
        // Only what is new or changed is asked.
        let asked: Vec<Value> = seen.lock().unwrap().iter().map(|(_, _, body)| body["json"].clone()).collect();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert_eq!(asked[0]["event"], "tools/list");
        assert_eq!(asked[0]["phase"], "definition");
        assert_eq!(asked[0]["payload"]["name"], "send_notes");
        assert_eq!(asked[0]["context"]["upstream"]["id"], f.upstream.as_str());
        let _ = std::fs::remove_file(&file);
    }

    async fn an_interceptor_is_checked_before_it_is_kept(db: &TestDatabase) {
        let f = fixture_with(db, "acme", 60_000, &[], settings).await;
        for (body, field) in [
            (json!({"name": "x", "url": "ftp://example.com", "phases": ["request"]}), "url"),
            (json!({"name": "x", "url": "https://example.com", "phases": []}), "phases"),
            (json!({"name": "x", "url": "https://example.com", "phases": ["request"], "timeout_ms": 20_000}), "timeout_ms"),
            (json!({"name": "", "url": "https://example.com", "phases": ["request"]}), "name"),
        ] {
            let (status, problem) = f.app.api(Method::POST, "/interceptors", &f.acme.key, Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
            assert!(problem.to_string().contains(field), "{field}: {problem}");
        }
        let body = json!({"name": "x", "url": "https://example.com/hook", "phases": ["request"]});
        register(&f, body.clone()).await;
        let (status, _) = f.app.api(Method::POST, "/interceptors", &f.acme.key, Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "the name is taken");
        let (_, events) = f.app.get("/audit-events?type=interceptor", &f.acme.key).await;
        assert_eq!(events["items"][0]["action"], "interceptor.created", "{events}");
    }

    async fn the_operators_interceptors_are_asked_for_every_organization_first(db: &TestDatabase) {
        let (base, seen) = interceptor_service().await;
        const SECRET: &str = "operator-secret-0123456789abcdef0123";
        let file = json!([{"name": "no-shell", "url": format!("{base}/no-shell"),
                           "phases": ["request"], "secret": SECRET}]).to_string();
        let f = fixture_with(db, "acme", 60_000, &[], move |s| {
            settings(s);
            s.platform.operator_interceptors =
                guidepost_core::guardrails::interceptors::operator_interceptors(&file, true).unwrap();
        })
        .await;
        // The organization registered none: the operator's is asked, signed with its secret.
        assert_eq!(echo(&f, 1, "hello").await, (false, "hello".to_owned()));
        assert_eq!(
            echo(&f, 2, "please rm -rf /").await,
            (true, "Refused by the platform's interceptor `no-shell`: no shell commands in messages".to_owned())
        );
        let asked = seen.lock().unwrap().clone();
        assert_eq!(asked.len(), 2, "{asked:?}");
        let (_, signature, body) = &asked[1];
        assert!(verify_signature(SECRET, signature, body["raw"].as_str().unwrap()), "{signature}");
        // The organization's own is asked after it, on what the operator's let through.
        let rewrite = register(&f, json!({"name": "internal-names",
            "url": format!("{base}/internal-names"), "phases": ["request"]})).await;
        assert_eq!(echo(&f, 3, "ticket ACME-INTERNAL-42").await, (false, "ticket [internal]-42".to_owned()));
        let order: Vec<String> = seen.lock().unwrap()[2..].iter().map(|(path, _, _)| path.clone()).collect();
        assert_eq!(order, ["no-shell", "internal-names"]);
        // It is not the organization's to list or remove.
        let (_, listed) = f.app.get("/interceptors", &f.acme.key).await;
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
        remove(&f, &rewrite).await;
        assert!(echo(&f, 4, "rm -rf /tmp").await.0, "still asked");
    }
}
