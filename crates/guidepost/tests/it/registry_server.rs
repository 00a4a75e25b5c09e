//! A registry of the tests' own: `GET /v0.1/servers` of the MCP Registry API over real
//! `server.json` documents, every version of a server listed with `isLatest` on the one
//! published last, with `cursor` paging (`name:version`; at most two a page, whatever
//! `limit` asks, so that every sync pages), `search`, and `updated_since` (deleted servers
//! only then, as the official registry does). It remembers every request it answered.

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::routing::get;
use guidepost_domain::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

/// Servers per page, below any `limit` a client asks for.
const PAGE_MAX: usize = 2;

/// A request the registry answered: its query, and how many servers it returned.
#[derive(Debug, Clone)]
pub struct Seen {
    pub cursor: Option<String>,
    pub updated_since: Option<String>,
    pub returned: usize,
}

/// One published version of a server.
struct Published {
    server: Value,
    status: &'static str,
    updated_at: String,
    /// Its place in the order of publication.
    order: usize,
}

impl Published {
    /// `name:version`, what a cursor names.
    fn key(&self) -> String {
        format!(
            "{}:{}",
            self.server["name"].as_str().unwrap(),
            self.server["version"].as_str().unwrap()
        )
    }
}

#[derive(Default)]
struct Listing {
    servers: Vec<Published>,
    published: usize,
    seen: Vec<Seen>,
}

#[derive(Clone)]
pub struct TestRegistry {
    pub url: String,
    listing: Arc<Mutex<Listing>>,
}

#[derive(Deserialize)]
struct ListQuery {
    cursor: Option<String>,
    limit: Option<usize>,
    search: Option<String>,
    updated_since: Option<String>,
}

impl TestRegistry {
    pub async fn start() -> Self {
        let listing = Arc::new(Mutex::new(Listing::default()));
        let router = axum::Router::new()
            .route("/v0.1/servers", get(list))
            .with_state(listing.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, listing }
    }

    /// Publishes a version of a server (or replaces it, by name and version) with its
    /// status and `updatedAt`; the version published last is its server's latest.
    pub fn publish(&self, server: Value, status: &'static str, updated_at: &str) {
        let mut listing = self.listing.lock().unwrap();
        listing.servers.retain(|p| {
            p.server["name"] != server["name"] || p.server["version"] != server["version"]
        });
        listing.published += 1;
        let order = listing.published;
        listing.servers.push(Published {
            server,
            status,
            updated_at: updated_at.to_owned(),
            order,
        });
        listing.servers.sort_by_key(Published::key);
    }

    /// Every request answered so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.listing.lock().unwrap().seen.clone()
    }
}

async fn list(
    State(listing): State<Arc<Mutex<Listing>>>,
    Query(query): Query<ListQuery>,
) -> axum::Json<Value> {
    let mut listing = listing.lock().unwrap();
    let since = query
        .updated_since
        .as_deref()
        .map(|t| Timestamp::parse_rfc3339(t).expect("an RFC 3339 updated_since"));
    let is_latest = |published: &Published| {
        !listing.servers.iter().any(|other| {
            other.server["name"] == published.server["name"] && other.order > published.order
        })
    };
    let matching: Vec<&Published> = listing
        .servers
        .iter()
        .filter(|p| {
            let changed =
                since.is_none_or(|since| Timestamp::parse_rfc3339(&p.updated_at).unwrap() > since);
            let shown = p.status != "deleted" || since.is_some();
            let found = query
                .search
                .as_deref()
                .is_none_or(|s| p.server["name"].as_str().unwrap().contains(s));
            changed && shown && found
        })
        .filter(|p| {
            query
                .cursor
                .as_deref()
                .is_none_or(|after| p.key().as_str() > after)
        })
        .collect();
    let size = query.limit.unwrap_or(30).min(PAGE_MAX);
    let page: Vec<Value> = matching
        .iter()
        .take(size)
        .map(|p| {
            json!({"server": p.server, "_meta": {"io.modelcontextprotocol.registry/official": {
                "status": p.status, "publishedAt": "2026-01-01T00:00:00Z", "updatedAt": p.updated_at,
                "isLatest": is_latest(p)}}})
        })
        .collect();
    let next = (matching.len() > size).then(|| json!(matching[size - 1].key()));
    listing.seen.push(Seen {
        cursor: query.cursor.clone(),
        updated_since: query.updated_since.clone(),
        returned: page.len(),
    });
    let count = page.len();
    let mut metadata = json!({"count": count});
    if let Some(next) = next {
        metadata["nextCursor"] = next;
    }
    axum::Json(json!({"servers": page, "metadata": metadata}))
}

/// A server.json (schema 2025-12-11) of an npm package run over stdio.
pub fn npm_server(
    name: &str,
    description: &str,
    version: &str,
    package: &str,
    package_version: &str,
) -> Value {
    json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": name,
        "description": description,
        "version": version,
        "packages": [{
            "registryType": "npm",
            "registryBaseUrl": "https://registry.npmjs.org",
            "identifier": package,
            "version": package_version,
            "transport": {"type": "stdio"},
            "packageArguments": [{"type": "positional", "value": "stdio"}]
        }]
    })
}

/// The MCP reference server's entry, as its registry lists it.
pub fn everything_server() -> Value {
    npm_server(
        "io.github.modelcontextprotocol/everything",
        "The MCP reference server that exercises every protocol feature.",
        "2026.8.31",
        "@modelcontextprotocol/server-everything",
        "2026.8.31",
    )
}
