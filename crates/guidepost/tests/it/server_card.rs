//! Being discovered: every hosted server publishes a Server Card at its MCP
//! URL plus `/server-card` (the MCP Server Card draft's reserved location), valid against
//! the draft's JSON schema (`fixtures/server_card/`), pointed at by its host's AI
//! Catalog; and the platform host lists, in the generic MCP registry API, the hosted
//! servers of the organizations that opted in, and only those.

use std::collections::BTreeSet;

use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Tenant, TestApp, python, spawn_app};

const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/it/fixtures/server_card/schema.json"
);

/// The draft schema's complaints about `card` (none when it is valid).
fn schema_errors(card: &Value) -> Vec<String> {
    let file = std::env::temp_dir().join(format!(
        "guidepost-card-{}-{}.json",
        std::process::id(),
        card["name"].as_str().unwrap_or("none").replace('/', "_")
    ));
    std::fs::write(&file, card.to_string()).unwrap();
    let script = r##"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
card = json.load(open(sys.argv[2]))
# The file's root holds only definitions; the card is $defs.ServerCard.
root = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/ServerCard"}
validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
print(json.dumps([f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(card)]))
"##;
    let output = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(SCHEMA)
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn fetch(
    app: &TestApp,
    path: &str,
    host: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = app.http.get(format!("{}{path}", app.url));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn host_of(url: &str) -> String {
    let parsed = url::Url::parse(url).unwrap();
    match parsed.port() {
        Some(port) => format!("{}:{port}", parsed.host_str().unwrap()),
        None => parsed.host_str().unwrap().to_owned(),
    }
}

/// A registry client of the generic API: every page from `query`, following `nextCursor`.
async fn registry_servers(app: &TestApp, query: &str) -> Vec<Value> {
    let mut servers = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v0.1/servers?limit=2{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!(
                "&cursor={}",
                url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>()
            ));
        }
        let (status, _, page) = fetch(app, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let items = page["servers"].as_array().unwrap();
        assert!(items.len() <= 2, "a page holds at most its limit: {page}");
        assert_eq!(page["metadata"]["count"], items.len());
        servers.extend(items.iter().cloned());
        match page["metadata"]["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return servers,
        }
    }
}

fn names(servers: &[Value]) -> BTreeSet<String> {
    servers
        .iter()
        .map(|s| s["server"]["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn list_in_registry(app: &TestApp, tenant: &Tenant, listed: bool) {
    let body = json!({"registry_listed": listed});
    let (status, org) = app
        .api(Method::PATCH, "/organization", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{org}");
    assert_eq!(org["registry_listed"], listed);
}

backend_tests! {
    async fn each_hosted_server_publishes_a_valid_server_card(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let open = app.create_server(&acme, "acme", json!({"instructions": "Guides people through Acme.\nMore."})).await;
        app.create_server(&acme, "secure", json!({"auth_mode": "platform_oauth"})).await;

        let (status, headers, card) = fetch(&app, "/s/acme/mcp/server-card", None).await;
        assert_eq!(status, StatusCode::OK, "{card}");
        assert_eq!(headers["content-type"], "application/mcp-server-card+json");
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert_eq!(schema_errors(&card), Vec::<String>::new(), "{card}");
        assert_eq!(card["title"], "Server acme");
        assert_eq!(card["description"], "Guides people through Acme.");
        assert_eq!(card["version"], env!("CARGO_PKG_VERSION"));
        assert!(card["name"].as_str().unwrap().ends_with("/acme"), "{card}");
        let remote = &card["remotes"][0];
        assert_eq!(remote["type"], "streamable-http");
        assert!(remote["url"].as_str().unwrap().ends_with("/s/acme/mcp"), "{card}");
        assert_eq!(card["_meta"]["dev.guidepost/auth"]["required"], false);
        assert!(remote.get("headers").is_none(), "no sign-in, no header: {card}");

        // A server that requires sign-in says so, and where its metadata is.
        let (status, _, secure) = fetch(&app, "/s/secure/mcp/server-card", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(schema_errors(&secure), Vec::<String>::new(), "{secure}");
        let auth = &secure["_meta"]["dev.guidepost/auth"];
        assert_eq!(auth["required"], true);
        assert_eq!(auth["mode"], "platform_oauth");
        assert_eq!(secure["remotes"][0]["headers"][0]["name"], "Authorization");
        let metadata = auth["protectedResourceMetadata"].as_str().unwrap();
        let (status, _, prm) = fetch(&app, url::Url::parse(metadata).unwrap().path(), None).await;
        assert_eq!(status, StatusCode::OK, "{metadata}: {prm}");
        assert_eq!(prm["resource"], secure["remotes"][0]["url"], "the card and the metadata agree");

        // On the server's own host: its canonical URL, and the host's AI Catalog.
        let mcp_url = open["mcp_url"].as_str().unwrap();
        let host = host_of(mcp_url);
        let (status, _, by_host) = fetch(&app, "/mcp/server-card", Some(&host)).await;
        assert_eq!(status, StatusCode::OK, "{by_host}");
        assert_eq!(by_host["remotes"][0]["url"], mcp_url);
        assert_eq!(schema_errors(&by_host), Vec::<String>::new());
        let (status, headers, catalog) = fetch(&app, "/.well-known/ai-catalog.json", Some(&host)).await;
        assert_eq!(status, StatusCode::OK, "{catalog}");
        assert_eq!(headers["content-type"], "application/ai-catalog+json");
        let entry = &catalog["entries"][0];
        assert_eq!(entry["type"], "application/mcp-server-card+json");
        assert_eq!(entry["url"], format!("{mcp_url}/server-card"));

        // Nothing for an unknown server; and the schema does refuse a broken card.
        let (status, _, _) = fetch(&app, "/s/nobody/mcp/server-card", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let mut broken = card.clone();
        broken.as_object_mut().unwrap().remove("name");
        assert!(!schema_errors(&broken).is_empty(), "the validator checks something");
    }

    async fn the_registry_listing_pages_through_opted_in_organizations_only(db: &TestDatabase) {
        let app = spawn_app(db).await;
        let acme = app.create_tenant("Acme").await;
        let beta = app.create_tenant("Beta").await;
        for slug in ["acme-docs", "acme-shop", "acme-help"] {
            app.create_server(&acme, slug, json!({})).await;
        }
        app.create_server(&beta, "beta-secret", json!({})).await;
        assert!(registry_servers(&app, "").await.is_empty(), "nobody opted in yet");

        list_in_registry(&app, &acme, true).await;
        let listed = registry_servers(&app, "").await;
        let listed_names = names(&listed);
        assert_eq!(listed_names.len(), 3, "{listed_names:?}");
        assert!(listed_names.iter().all(|n| n.contains("/acme-")), "{listed_names:?}");
        let shop = listed.iter().find(|s| s["server"]["name"].as_str().unwrap().ends_with("/acme-shop")).unwrap();
        let (_, servers) = app.get("/servers?limit=100", &acme.key).await;
        let view = servers["items"].as_array().unwrap().iter().find(|s| s["slug"] == "acme-shop").unwrap().clone();
        assert_eq!(shop["server"]["remotes"][0]["url"], view["mcp_url"]);
        assert_eq!(shop["server"]["remotes"][0]["type"], "streamable-http");
        assert_eq!(shop["_meta"]["io.modelcontextprotocol.registry/official"]["status"], "active");

        // Search, and what changed since a time (the client's incremental sync).
        assert_eq!(names(&registry_servers(&app, "&search=SHOP").await).len(), 1);
        let since = shop["_meta"]["io.modelcontextprotocol.registry/official"]["updatedAt"].as_str().unwrap().to_owned();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let later = guidepost_domain::Timestamp::now().to_rfc3339();
        let id = view["id"].as_str().unwrap();
        let (status, _) = app.api(Method::PATCH, &format!("/servers/{id}"), &acme.key, Some(json!({"name": "Acme Shop"}))).await;
        assert_eq!(status, StatusCode::OK);
        let changed = registry_servers(&app, &format!("&updated_since={later}")).await;
        assert_eq!(names(&changed).len(), 1, "{changed:?}");
        assert_eq!(changed[0]["server"]["title"], "Acme Shop");
        let since_before = names(&registry_servers(&app, &format!("&updated_since={since}")).await);
        assert!(since_before.iter().any(|n| n.ends_with("/acme-shop")), "{since_before:?}");

        // Not on a tenant's host; bad parameters are refused; opting out unlists.
        let host = host_of(view["mcp_url"].as_str().unwrap());
        let (status, _, _) = fetch(&app, "/v0.1/servers", Some(&host)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for bad in ["limit=0", "limit=101", "cursor=nonsense", "updated_since=yesterday"] {
            let (status, _, problem) = fetch(&app, &format!("/v0.1/servers?{bad}"), None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
        }
        list_in_registry(&app, &acme, false).await;
        assert!(registry_servers(&app, "").await.is_empty());
    }
}
