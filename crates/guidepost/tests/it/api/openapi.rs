use axum::http::{Method, StatusCode};
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::api::helpers::spawn_app;

/// Every route of the API, as the router serves it.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/servers"),
    ("post", "/api/v1/servers/{id}/custom-domain/verify"),
    ("get", "/api/v1/servers"),
    ("get", "/api/v1/servers/{id}"),
    ("patch", "/api/v1/servers/{id}"),
    ("delete", "/api/v1/servers/{id}"),
    ("get", "/api/v1/servers/{id}/install"),
    ("get", "/api/v1/servers/{id}/tools"),
    ("put", "/api/v1/servers/{id}/tools/{name}/disabled"),
    ("delete", "/api/v1/servers/{id}/tools/{name}/disabled"),
    ("put", "/api/v1/servers/{id}/oidc"),
    ("get", "/api/v1/servers/{id}/oidc"),
    ("delete", "/api/v1/servers/{id}/oidc"),
    ("get", "/api/v1/servers/{id}/walkthroughs"),
    ("put", "/api/v1/servers/{id}/walkthroughs/{walkthrough_id}"),
    (
        "delete",
        "/api/v1/servers/{id}/walkthroughs/{walkthrough_id}",
    ),
    ("post", "/api/v1/walkthroughs"),
    ("get", "/api/v1/walkthroughs"),
    ("get", "/api/v1/walkthroughs/{id}"),
    ("patch", "/api/v1/walkthroughs/{id}"),
    ("delete", "/api/v1/walkthroughs/{id}"),
    ("post", "/api/v1/walkthroughs/{id}/steps"),
    ("patch", "/api/v1/walkthroughs/{id}/steps/{step_id}"),
    ("delete", "/api/v1/walkthroughs/{id}/steps/{step_id}"),
    ("post", "/api/v1/walkthroughs/{id}/publish"),
    (
        "post",
        "/api/v1/walkthroughs/{id}/versions/{version}/republish",
    ),
    ("get", "/api/v1/walkthroughs/{id}/funnel"),
    ("get", "/api/v1/walkthroughs/{id}/funnel/stuck"),
    ("get", "/api/v1/support-requests"),
    ("get", "/api/v1/support-requests/{id}"),
    ("patch", "/api/v1/support-requests/{id}"),
    ("get", "/api/v1/support-requests/{id}/messages"),
    ("post", "/api/v1/support-requests/{id}/messages"),
    ("get", "/api/v1/approvals"),
    ("get", "/api/v1/approvals/{id}"),
    ("post", "/api/v1/approvals/{id}/approve"),
    ("post", "/api/v1/approvals/{id}/reject"),
    ("post", "/api/v1/interceptors"),
    ("get", "/api/v1/interceptors"),
    ("delete", "/api/v1/interceptors/{id}"),
    ("get", "/api/v1/policies"),
    ("put", "/api/v1/policies"),
    ("post", "/api/v1/policies/check"),
    ("post", "/api/v1/policies/test"),
    ("get", "/api/v1/policies/versions"),
    ("get", "/api/v1/policies/versions/{version}"),
    ("get", "/api/v1/policies/schema"),
    ("get", "/api/v1/quotas"),
    ("put", "/api/v1/quotas"),
    ("get", "/api/v1/feedback"),
    ("get", "/api/v1/feedback/daily"),
    ("get", "/api/v1/servers/{id}/missing-capabilities"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{id}"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
    ("post", "/api/v1/webhooks/{id}/test"),
    ("get", "/api/v1/end-users"),
    ("get", "/api/v1/end-users/{id}"),
    ("get", "/api/v1/end-users/{id}/export"),
    (
        "delete",
        "/api/v1/end-users/{id}/progress/{server_id}/{walkthrough_id}",
    ),
    ("delete", "/api/v1/end-users/{id}"),
    ("get", "/api/v1/tool-calls"),
    ("get", "/api/v1/analytics/tools"),
    ("get", "/api/v1/analytics/tools/export"),
    ("get", "/api/v1/api-keys"),
    ("post", "/api/v1/api-keys"),
    ("delete", "/api/v1/api-keys/{id}"),
    ("get", "/api/v1/audit-events"),
    ("get", "/api/v1/organization"),
    ("patch", "/api/v1/organization"),
    ("get", "/api/v1/catalog"),
    ("post", "/api/v1/catalog"),
    ("post", "/api/v1/upstreams"),
    ("get", "/api/v1/upstreams"),
    ("get", "/api/v1/upstreams/{id}"),
    ("patch", "/api/v1/upstreams/{id}"),
    ("delete", "/api/v1/upstreams/{id}"),
    ("post", "/api/v1/upstreams/{id}/restart"),
    ("post", "/api/v1/upstreams/{id}/rollback"),
    ("get", "/api/v1/upstreams/{id}/tools"),
    ("post", "/api/v1/upstreams/{id}/tools/approve-clean"),
    ("post", "/api/v1/upstreams/{id}/tools/{name}/approve"),
    ("post", "/api/v1/upstreams/{id}/tools/{name}/reject"),
    (
        "post",
        "/api/v1/upstreams/{id}/definitions/{kind}/{name}/approve",
    ),
    (
        "post",
        "/api/v1/upstreams/{id}/definitions/{kind}/{name}/reject",
    ),
    ("get", "/api/v1/upstreams/{id}/logs"),
    ("post", "/api/v1/upstreams/{id}/connect"),
    ("get", "/api/v1/upstreams/{id}/connections"),
    ("delete", "/api/v1/upstreams/{id}/connections/{owner}"),
    ("get", "/api/v1/end-users/{id}/connections"),
    ("put", "/api/v1/servers/{id}/upstreams/{upstream_id}"),
    ("delete", "/api/v1/servers/{id}/upstreams/{upstream_id}"),
    ("get", "/api/v1/openapi.json"),
];

async fn document(db: &TestDatabase) -> Value {
    let app = spawn_app(db).await;
    let reply = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "the document needs no key");
    assert_eq!(reply.content_type(), "application/json");
    reply.body
}

fn documented_operations(doc: &Value) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.push((method.clone(), path.clone()));
        }
    }
    operations.sort();
    operations
}

async fn the_document_lists_exactly_the_routes(db: &TestDatabase) {
    let doc = document(db).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let mut expected: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    expected.sort();
    assert_eq!(documented_operations(&doc), expected);
}

async fn the_document_declares_the_bearer_scheme_on_every_authenticated_operation(
    db: &TestDatabase,
) {
    let doc = document(db).await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    for (method, path) in documented_operations(&doc) {
        let operation = &doc["paths"][&path][&method];
        if path.ends_with("openapi.json") {
            assert!(operation.get("security").is_none(), "{method} {path}");
            continue;
        }
        assert_eq!(
            operation["security"],
            json!([{"bearer": []}]),
            "{method} {path}"
        );
        let unauthorized =
            &operation["responses"]["401"]["content"]["application/problem+json"]["schema"]["$ref"];
        assert_eq!(
            unauthorized, "#/components/schemas/Problem",
            "{method} {path}"
        );
    }
}

async fn error_responses_are_documented_as_problems(db: &TestDatabase) {
    let doc = document(db).await;
    let conflict = &doc["paths"]["/api/v1/servers"]["post"]["responses"]["409"];
    assert_eq!(
        conflict["content"]["application/problem+json"]["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    let created = &doc["paths"]["/api/v1/servers"]["post"]["responses"]["201"];
    assert_eq!(
        created["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ServerView"
    );
    let mcp_url = &doc["components"]["schemas"]["ServerView"]["allOf"][1]["properties"]["mcp_url"];
    assert_eq!(mcp_url["type"], "string");
    // A tool's findings say where they matched: `span`, optional.
    let finding = &doc["components"]["schemas"]["Finding"];
    assert!(finding["properties"]["span"].is_object(), "{finding}");
    assert!(
        !finding["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|n| n == "span")),
        "{finding}"
    );
    let span = &doc["components"]["schemas"]["Span"]["properties"];
    assert!(
        span["start"].is_object() && span["end"].is_object(),
        "{span}"
    );
}

/// Each documented operation reaches a handler: whatever it answers, it is not the
/// "no such endpoint" fallback nor 405.
async fn every_documented_operation_is_served(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let doc = document(db).await;
    for (method, path) in documented_operations(&doc) {
        let id = match path.split('/').nth(3).unwrap() {
            "servers" => "ms_00000000000000000000",
            "support-requests" => "sr_00000000000000000000",
            "end-users" => "msu_00000000000000000000",
            "api-keys" => "key_00000000000000000000",
            "walkthroughs" => "wt_00000000000000000000",
            "upstreams" => "up_00000000000000000000",
            "webhooks" => "wh_00000000000000000000",
            "interceptors" => "icp_00000000000000000000",
            "approvals" => "apr_00000000000000000000",
            _ => "",
        };
        let uri = path
            .replace("{id}", id)
            .replace("{walkthrough_id}", "wt_00000000000000000000")
            .replace("{server_id}", "ms_00000000000000000000")
            .replace("{version}", "1")
            .replace("{step_id}", "ws_00000000000000000000")
            .replace("{upstream_id}", "up_00000000000000000000")
            .replace("{kind}", "prompt")
            .replace("{name}", "echo")
            .replace("{owner}", "organization");
        assert!(!uri.contains('{'), "a path parameter is left in {uri}");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = matches!(method, Method::POST | Method::PATCH | Method::PUT).then(|| json!({}));
        // Every answer is JSON, but for an export documented as CSV and the policies'
        // schema, documented as text.
        let lower = method.as_str().to_lowercase();
        let content = &doc["paths"][&path][&lower]["responses"]["200"]["content"];
        let csv = content.get("text/csv").is_some() || content.get("text/plain").is_some();
        let reply = app
            .app
            .client
            .call(method.clone(), &uri, Some(&acme.key), body)
            .await;
        assert!(
            csv || reply.is_json(),
            "{method} {uri}: not JSON: {}",
            reply.text
        );
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}"
        );
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(
            !detail.starts_with("No such endpoint"),
            "{method} {uri}: {}",
            reply.body
        );
        assert!(
            reply.status.is_success() || reply.status.is_client_error(),
            "{method} {uri}: {}",
            reply.body
        );
    }
}

async fn the_document_describes_walkthroughs(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let doc = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .body;
    let operations: Vec<&Value> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .collect();
    let ours: Vec<&str> = operations
        .iter()
        .filter(|op| op["tags"] == json!(["walkthroughs"]))
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(ours.len(), 15, "{ours:?}");
    let every_id: Vec<&str> = operations
        .iter()
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    // One pattern: the noun (plural for a collection), then the verb.
    const VERBS: [&str; 27] = [
        "list",
        "get",
        "create",
        "update",
        "delete",
        "put",
        "add",
        "install",
        "uninstall",
        "restart",
        "rollback",
        "attach",
        "detach",
        "approve",
        "reject",
        "publish",
        "assign",
        "unassign",
        "verify",
        "test",
        "revoke",
        "export",
        "erase",
        "reset",
        "republish",
        "enable",
        "disable",
    ];
    for id in &every_id {
        let (noun, verb) = id.rsplit_once('_').unwrap_or(("", id));
        assert!(
            VERBS.contains(&verb)
                && !noun.is_empty()
                && noun.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "operationId {id} is not noun_verb"
        );
        let uses = operations
            .iter()
            .filter(|op| op["operationId"] == *id)
            .count();
        assert_eq!(uses, 1, "operationId {id} is not unique");
    }
    let step = &doc["components"]["schemas"]["FunnelStep"]["properties"];
    let drop_off = step["drop_off"]["description"].as_str().unwrap();
    assert!(drop_off.contains("reached - completed"), "{drop_off}");
    for field in ["step_id", "title", "position", "reached", "completed"] {
        assert!(step.get(field).is_some(), "{field} in {step}");
    }
    let totals = &doc["components"]["schemas"]["FunnelTotals"]["properties"];
    for field in [
        "started",
        "completed",
        "completion_rate",
        "median_time_to_complete_seconds",
    ] {
        assert!(totals.get(field).is_some(), "{field} in {totals}");
    }
}

backend_tests!(
    the_document_describes_walkthroughs,
    the_document_lists_exactly_the_routes,
    the_document_declares_the_bearer_scheme_on_every_authenticated_operation,
    error_responses_are_documented_as_problems,
    every_documented_operation_is_served,
);
