//! The tenant isolation sweep: organization B has one of everything (a server with an
//! attached upstream, a published and assigned walkthrough, an end user's progress, a
//! support request, a webhook, an interceptor, an API key, recorded calls, a task).
//! Organization A then calls every operation that `/api/v1/openapi.json` lists, with A's
//! key and B's ids in the path and in the body, and every tool of A's MCP server with B's
//! ids: nothing succeeds on B's objects, no answer shows any of B's ids, and B's objects
//! are as they were. The operations come from the document, so a new endpoint is swept
//! without editing this test; a path parameter it cannot fill makes it fail, saying which.

use std::collections::BTreeMap;

use guidepost_core::secrets::MasterKey;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::gateway_fixture::{Fixture, fixture_with};
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp};
use crate::tasks::accepts_tasks;

/// B's objects, by the names the API's paths and bodies give them.
struct Owned {
    ids: BTreeMap<&'static str, String>,
    tool: String,
}

impl Owned {
    /// The id for a path parameter of `path` (`{id}` takes its meaning from the
    /// collection before it) or a body property.
    fn for_name(&self, collection: &str, name: &str) -> Option<&str> {
        let kind = match name {
            "id" => match collection {
                "servers" => "server",
                "walkthroughs" => "walkthrough",
                "upstreams" => "upstream",
                "support-requests" => "support_request",
                "webhooks" => "webhook",
                "interceptors" => "interceptor",
                "approvals" => "approval",
                "end-users" => "end_user",
                "api-keys" => "api_key",
                _ => return None,
            },
            "name" => return Some(&self.tool),
            // `/definitions/{kind}/{name}`: B's tool, by its kind.
            "kind" => return Some("tool"),
            // `/connections/{owner}`: B's organization connection.
            "owner" => return Some("organization"),
            // `/versions/{version}`: the first version of B's walkthrough.
            "version" => return Some("1"),
            other => {
                // `walkthrough_id`, `current_step_id`: the kind, or its last word.
                let kind = other.strip_suffix("_id").unwrap_or(other);
                let last = kind.rsplit('_').next().unwrap_or(kind);
                return self
                    .ids
                    .get(kind)
                    .or_else(|| self.ids.get(last))
                    .map(String::as_str);
            }
        };
        self.ids.get(kind).map(String::as_str)
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        self.ids.values().map(String::as_str)
    }

    /// B's ids in an answer, but for those the request itself sent (an error may name
    /// what it was asked about).
    fn shown_in(&self, answer: &str, request: &str) -> Vec<&str> {
        self.all()
            .filter(|id| answer.contains(id) && !request.contains(id))
            .collect()
    }
}

async fn b_with_everything(db: &TestDatabase) -> (Fixture, Owned) {
    let f = fixture_with(db, "bravo", 60_000, &[], |settings| {
        settings.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
        settings.webhooks.allow_private = true;
    })
    .await;
    let (app, b) = (&f.app, &f.acme);
    let mut ids = BTreeMap::new();
    ids.insert("org", b.org_id().to_owned());
    ids.insert("server", f.server.clone());
    ids.insert("upstream", f.upstream.clone());
    let seeded = app
        .seed_walkthrough(b, "B's onboarding", 2, Some((&f.server, 1)))
        .await;
    ids.insert("walkthrough", seeded.id.clone());
    ids.insert("step", seeded.step_ids[0].clone());

    let bea = RawMcp::new(
        format!("{}?tracking_id=bea", app.mcp_path_url("bravo")),
        STATELESS_ERA,
    );
    let selected = bea
        .call_tool(
            1,
            "select_walkthrough",
            json!({"walkthrough_id": seeded.id}),
        )
        .await;
    assert_ne!(
        selected.body["result"]["isError"], true,
        "{}",
        selected.body
    );
    let support =
        json!({"title": "B's trouble", "problem_description": "d", "email": "bea@b.example"});
    let opened = bea.call_tool(2, "get_support", support).await;
    let request = opened.structured()["support_request_id"].as_str().unwrap();
    ids.insert("support_request", request.to_owned());
    // A call of B's that waits for a member's approval.
    let asks = "permit(principal, action, resource);\n@approval(\"member\") \
        forbid(principal, action, resource) when { resource.tool == \"get_support\" };";
    let (status, _) = app
        .api(
            Method::PUT,
            "/policies",
            &b.key,
            Some(json!({"source": asks})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let waiting =
        json!({"title": "B's deploy", "problem_description": "d", "email": "bea@b.example"});
    bea.call_tool(3, "get_support", waiting).await;
    let (_, approvals) = app.get("/approvals", &b.key).await;
    ids.insert(
        "approval",
        approvals["items"][0]["id"]
            .as_str()
            .expect("B's approval")
            .to_owned(),
    );
    let (_, users) = app.get("/end-users", &b.key).await;
    ids.insert(
        "end_user",
        users["items"][0]["id"].as_str().unwrap().to_owned(),
    );

    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["support_request.created"]});
    let (_, webhook) = app.api(Method::POST, "/webhooks", &b.key, Some(hook)).await;
    ids.insert(
        "webhook",
        webhook["id"].as_str().expect("B's webhook").to_owned(),
    );
    let judge = json!({"name": "judge", "url": "http://127.0.0.1:9/judge", "phases": ["result"]});
    let (_, interceptor) = app
        .api(Method::POST, "/interceptors", &b.key, Some(judge))
        .await;
    ids.insert(
        "interceptor",
        interceptor["id"]
            .as_str()
            .expect("B's interceptor")
            .to_owned(),
    );
    let (_, key) = app
        .api(
            Method::POST,
            "/api-keys",
            &b.key,
            Some(json!({"name": "ci"})),
        )
        .await;
    ids.insert("api_key", key["id"].as_str().expect("B's key").to_owned());

    let task = bea
        .call_declaring(
            3,
            "tools/call",
            json!({"name": "fx__slow", "arguments": {"seconds": 30, "steps": 30}}),
            accepts_tasks(),
        )
        .await;
    let task_id = task.body["result"]["taskId"]
        .as_str()
        .expect("B's task")
        .to_owned();
    // Cancelled at once, so that its call is recorded before the sweep looks.
    bea.call_declaring(
        4,
        "tasks/cancel",
        json!({"taskId": task_id}),
        accepts_tasks(),
    )
    .await;
    ids.insert("task", task_id);
    for _ in 0..100 {
        let (_, calls) = app.get("/tool-calls", &b.key).await;
        if calls.to_string().contains("fx__slow") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let owned = Owned {
        ids,
        tool: "echo".into(),
    };
    (f, owned)
}

/// What B can see of its own objects; the sweep must leave it as it is.
async fn b_as_b_sees_it(app: &TestApp, b: &Tenant, owned: &Owned) -> Value {
    let id = |kind| owned.ids[kind].as_str();
    let mut seen = Map::new();
    for path in [
        format!("/servers/{}", id("server")),
        format!("/walkthroughs/{}", id("walkthrough")),
        format!("/servers/{}/walkthroughs", id("server")),
        format!("/support-requests/{}", id("support_request")),
        format!("/support-requests/{}/messages", id("support_request")),
        format!("/end-users/{}", id("end_user")),
        format!("/upstreams/{}/tools", id("upstream")),
        "/webhooks".to_owned(),
        "/interceptors".to_owned(),
        "/approvals".to_owned(),
        "/organization".to_owned(),
    ] {
        let (status, mut body) = app.get(&path, &b.key).await;
        assert!(status.is_success(), "B reads {path}: {status} {body}");
        forget_volatile(&mut body);
        seen.insert(path, body);
    }
    let (_, keys) = app.get("/api-keys", &b.key).await;
    let names: Vec<&Value> = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["id"])
        .collect();
    seen.insert("/api-keys".into(), json!(names));
    Value::Object(seen)
}

/// Fields that change by themselves (times of use, a running upstream's state).
fn forget_volatile(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in [
                "last_seen_at",
                "last_used_at",
                "updated_at",
                "status_changed_at",
            ] {
                map.remove(key);
            }
            map.values_mut().for_each(forget_volatile);
        }
        Value::Array(items) => items.iter_mut().for_each(forget_volatile),
        _ => {}
    }
}

/// A body for an operation's request schema: its required properties (and any
/// property that names an object) filled, ids with B's.
fn body_for(schema: &Value, doc: &Value, owned: &Owned, name: &str) -> Value {
    let schema = resolve(schema, doc);
    if let Some(first) = ["oneOf", "anyOf", "allOf"]
        .iter()
        .find_map(|key| schema[*key].as_array().and_then(|all| all.first()))
    {
        return body_for(first, doc, owned, name);
    }
    if let Some(id) = owned.for_name("", name) {
        return json!(id);
    }
    if let Some(choice) = schema["enum"].as_array().and_then(|all| all.first()) {
        return choice.clone();
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .cloned()
            .unwrap_or(Value::Null),
        kind => kind.clone(),
    };
    match kind.as_str().unwrap_or("object") {
        "object" => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|all| all.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut object = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (key, property) in properties {
                    if required.contains(&key.as_str()) || owned.for_name("", key).is_some() {
                        object.insert(key.clone(), body_for(property, doc, owned, key));
                    }
                }
            }
            Value::Object(object)
        }
        "array" => json!([body_for(&schema["items"], doc, owned, name)]),
        "integer" | "number" => json!(1),
        "boolean" => json!(true),
        _ if schema["format"] == "email" || name.contains("email") => json!("intruder@a.example"),
        _ if schema["format"] == "uri" || name.contains("url") => json!("http://127.0.0.1:9/hook"),
        _ => json!("sweep"),
    }
}

fn resolve<'a>(schema: &'a Value, doc: &'a Value) -> &'a Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
        Some(pointer) => resolve(
            doc.pointer(&format!("/{pointer}")).unwrap_or(&Value::Null),
            doc,
        ),
        None => schema,
    }
}

/// `path` with each `{parameter}` replaced by B's id; the parameters it could not fill.
fn fill_path(path: &str, owned: &Owned) -> (String, Vec<String>) {
    let mut filled = String::new();
    let mut unknown = Vec::new();
    let mut collection = "";
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        filled.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(parameter) => match owned.for_name(collection, parameter) {
                Some(id) => filled.push_str(id),
                None => unknown.push(format!("{path}: {{{parameter}}}")),
            },
            None => {
                filled.push_str(segment);
                collection = segment;
            }
        }
    }
    (filled, unknown)
}

backend_tests! {
    async fn no_api_operation_or_tool_of_one_organization_reaches_anothers_objects(db: &TestDatabase) {
        let (f, owned) = b_with_everything(db).await;
        let (app, b) = (&f.app, &f.acme);
        let a = app.create_tenant("Intruder").await;
        let alpha = app.create_server(&a, "alpha", json!({})).await;
        let alpha = alpha["id"].as_str().unwrap();
        app.seed_walkthrough(&a, "A's own", 2, Some((alpha, 1))).await;
        let before = b_as_b_sees_it(app, b, &owned).await;

        let (_, doc) = app.get("/openapi.json", &a.key).await;
        let mut swept = 0;
        let mut refused = BTreeMap::<u16, usize>::new();
        let mut leaks = Vec::new();
        let mut unknown = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("the document lists paths") {
            let relative = path.strip_prefix("/api/v1").expect("every path is under /api/v1");
            if relative == "/openapi.json" {
                continue;
            }
            let (filled, missing) = fill_path(relative, &owned);
            unknown.extend(missing);
            for (verb, operation) in item.as_object().unwrap() {
                let Ok(method) = verb.to_uppercase().parse::<Method>() else { continue };
                let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
                let body = (!schema.is_null()).then(|| body_for(schema, &doc, &owned, ""));
                let (status, answer) = app.api(method.clone(), &filled, &a.key, body.clone()).await;
                swept += 1;
                let text = answer.to_string();
                let sent = format!("{filled} {body:?}");
                let shown = owned.shown_in(&text, &sent);
                if filled != relative && status.is_success() {
                    leaks.push(format!("{method} {filled} succeeded with A's key: {status} {text}"));
                } else if !shown.is_empty() {
                    leaks.push(format!("{method} {filled} (body {body:?}) shows B's {shown:?}: {text}"));
                } else if !status.is_success() {
                    *refused.entry(status.as_u16()).or_default() += 1;
                }
            }
        }
        assert!(unknown.is_empty(), "path parameters the sweep cannot fill: {unknown:?}");
        assert!(swept >= 50, "the document lists every operation: {swept}");

        // A's MCP server, every tool, with B's ids for every argument that takes one.
        let alpha = RawMcp::new(format!("{}?tracking_id=bea", app.mcp_path_url("alpha")), STATELESS_ERA);
        let tools = alpha.call(10, "tools/list", json!({})).await;
        let tools = tools.body["result"]["tools"].as_array().cloned().unwrap_or_default();
        assert!(tools.len() >= 5, "A offers the walkthrough tools and get_support: {tools:?}");
        for (n, tool) in tools.iter().enumerate() {
            let name = tool["name"].as_str().unwrap();
            let arguments = body_for(&tool["inputSchema"], &Value::Null, &owned, "");
            let answer = alpha.call_tool(11 + n as i64, name, arguments.clone()).await;
            let text = answer.body.to_string();
            let shown = owned.shown_in(&text, &arguments.to_string());
            let took_b_id = owned.all().any(|id| arguments.to_string().contains(id));
            let succeeded = answer.body["result"].is_object() && answer.body["result"]["isError"] != true;
            if !shown.is_empty() || (took_b_id && succeeded) {
                leaks.push(format!("tool {name}({arguments}) on A: {text}"));
            }
        }
        // B's task, asked for through A's server (and its tracking id there).
        let task = alpha
            .call_declaring(40, "tasks/get", json!({"taskId": owned.ids["task"]}),
                accepts_tasks())
            .await;
        assert_eq!(task.body["error"]["code"], -32602, "B's task is unknown on A: {}", task.body);

        assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
        let after = b_as_b_sees_it(app, b, &owned).await;
        assert_eq!(before, after, "B's objects are as they were");
        println!("swept {swept} operations with A's key: refused {refused:?}, the rest A's own; {} tools on A's server", tools.len());
    }
}
