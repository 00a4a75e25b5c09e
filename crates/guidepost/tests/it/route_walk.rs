//! Every mutating route, read from the routers themselves (`route_paths`), refuses the
//! callers who may not make the change, and organization A's objects are unchanged after
//! the walk. Written before the role checks move from the dashboard's handlers into core,
//! it pins what today's code answers.
//!
//! Each path is tried with every mutating method; a method the route does not serve
//! answers 405 and is skipped (and counted). Each `{…}` parameter is replaced by the id of
//! A's object of the kind the segment before it names (`/servers/{id}`: A's server), and
//! each request carries a body that A's owner could send, so that only the caller is wrong.

use std::collections::BTreeMap;

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::dashboard::{Browser, Page, add_member, dashboard_app_with, member};
use crate::gateway_fixture::{FixtureDir, wait_for};
use crate::helpers::{Tenant, TestApp, personal_client};
use crate::oauth_helpers::OAuthApp;

const MUTATING: [Method; 4] = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

/// The tool of A's upstream that the review routes name.
const TOOL: &str = "echo";

/// Dashboard routes about the signed-in person rather than an organization's objects
/// (signing in and out, choosing which of one's organizations to act in): not walked.
const PERSONAL: [&str; 3] = ["/app/sign-in", "/app/sign-out", "/app/switch"];

/// A's policies: one call of `get_support` waits for a member's approval.
const APPROVAL_POLICY: &str = r#"permit(principal, action, resource);
@approval("member") forbid(principal, action, resource)
when { context.arguments.hasTag("title") && context.arguments.getTag("title") == "Needs approval" };"#;

/// One of each of organization A's objects that a route can name.
pub(crate) struct Objects {
    server: String,
    walkthrough: String,
    step: String,
    upstream: String,
    catalog_entry: String,
    webhook: String,
    interceptor: String,
    approval: String,
    support_request: String,
    end_user: String,
    member: String,
    api_key: String,
}

impl Objects {
    pub(crate) async fn seed(app: &OAuthApp, a: &Tenant) -> Self {
        let api = &app.app;
        let server = api.create_server(a, "acme", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        let walkthrough = api
            .seed_walkthrough(a, "Onboarding", 2, Some((&server, 1)))
            .await;
        let support = json!({"title": "Stuck", "problem_description": "It hangs.", "email": "ada@acme.example"});
        let opened = personal_client(api, "acme", "ada")
            .call_tool(1, "get_support", support)
            .await;
        let support_request = opened.structured()["support_request_id"]
            .as_str()
            .unwrap()
            .to_owned();
        // A call that waits for a member's approval: the queue holds one.
        let asks = json!({"source": APPROVAL_POLICY});
        owner_call(api, a, Method::PUT, "/policies", Some(asks)).await;
        let waiting = json!({"title": "Needs approval", "problem_description": "Deploy.", "email": "ada@acme.example"});
        personal_client(api, "acme", "ada")
            .call_tool(2, "get_support", waiting)
            .await;
        // Recorded before anything is compared: the analytics writer stores the calls a
        // moment later, and a snapshot taken before it would see the person change.
        api.wait_for_tool_calls(a, 2).await;
        let upstream = install_and_attach(api, a, &server).await;
        let entry = json!({"id": "acme-remote", "name": "Acme remote", "description": "",
            "spec": {"runtime": "http", "url": "https://mcp.acme.example/mcp"}});
        owner_call(api, a, Method::POST, "/catalog", Some(entry)).await;
        let hook = json!({"url": "https://hooks.acme.example/support", "events": ["support_request.created"]});
        let webhook = owner_call(api, a, Method::POST, "/webhooks", Some(hook)).await;
        let interceptor = json!({"name": "judge", "url": "https://judge.acme.example/calls",
            "phases": ["request"]});
        let interceptor =
            owner_call(api, a, Method::POST, "/interceptors", Some(interceptor)).await;
        add_member(app, a, "owner@acme.example", Role::Owner).await;
        let owner = api
            .store
            .list_members(&a.org)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.role == Role::Owner)
            .expect("A's owner");
        Objects {
            server,
            step: walkthrough.step_ids[0].clone(),
            walkthrough: walkthrough.id,
            upstream,
            catalog_entry: "acme-remote".into(),
            webhook: id_of(&webhook),
            interceptor: id_of(&interceptor),
            approval: first_id(api, a, "/approvals").await,
            support_request,
            end_user: first_id(api, a, "/end-users").await,
            member: owner.id.to_string(),
            api_key: first_id(api, a, "/api-keys").await,
        }
    }

    /// `template` with each `{…}` parameter replaced by the id of A's object of the kind
    /// named by the segment before it.
    pub(crate) fn fill(&self, template: &str) -> String {
        let mut collection = "";
        let segments = template.split('/').map(|segment| {
            // A parameter named for its kind says it; the others, the segment before.
            if segment == "{server_id}" {
                self.server.clone()
            } else if segment == "{walkthrough_id}" {
                self.walkthrough.clone()
            } else if segment.starts_with('{') {
                self.id_in(collection, template).to_owned()
            } else {
                collection = segment;
                segment.to_owned()
            }
        });
        segments.collect::<Vec<_>>().join("/")
    }

    fn id_in(&self, collection: &str, template: &str) -> &str {
        match collection {
            "servers" | "assignments" | "detach" => &self.server,
            "walkthroughs" | "funnel" => &self.walkthrough,
            "steps" => &self.step,
            // A's walkthrough is published once.
            "versions" => "1",
            "upstreams" => &self.upstream,
            // `/upstreams/{id}/connections/{owner}`: the organization's connection.
            "connections" => "organization",
            "tools" => TOOL,
            // `/definitions/{kind}/{name}`: both parameters follow `definitions`.
            "definitions" => "tool",
            "catalog" => &self.catalog_entry,
            "webhooks" => &self.webhook,
            "interceptors" => &self.interceptor,
            "approvals" => &self.approval,
            "support" | "support-requests" => &self.support_request,
            "end-users" => &self.end_user,
            "members" => &self.member,
            "api-keys" => &self.api_key,
            // Not an organization's object: the stylesheet's route takes any hash and name.
            "assets" => "app.css",
            _ => panic!(
                "{template}: which kind of A's object does the parameter after /{collection}/ \
                 name? Seed one and add it to Objects::id_in"
            ),
        }
    }

    /// A JSON body A's owner could send to the API route `template` with `method`: every
    /// route that takes a body has one here (`api_key_scopes` checks it against the
    /// OpenAPI document), so that only the caller is wrong.
    pub(crate) fn api_body(&self, method: &Method, template: &str) -> Option<Value> {
        let route = template.trim_start_matches("/api/v1");
        let body = match (method.as_str(), route) {
            ("POST", "/servers") => json!({"name": "Taken", "slug": "taken"}),
            ("PATCH", "/organization") => json!({"tool_approval": "trust_on_first_use"}),
            ("POST", "/catalog") => json!({"id": "taken", "name": "Taken", "description": "",
                "spec": {"runtime": "http", "url": "https://mcp.taken.example/mcp"}}),
            ("POST", "/upstreams") => json!({"catalog_entry_id": "fixture"}),
            ("POST", "/walkthroughs") => json!({"title": "Taken"}),
            ("POST", "/webhooks") => json!({"url": "https://hooks.acme.example/taken",
                "events": ["support_request.created"]}),
            ("POST", "/interceptors") => json!({"name": "taken",
                "url": "https://judge.acme.example/taken", "phases": ["result"]}),
            ("POST", "/api-keys") => json!({"name": "Taken", "scopes": ["read"]}),
            ("PATCH", "/servers/{id}") => json!({"name": "Taken"}),
            ("PUT", "/servers/{id}/oidc") => {
                json!({"issuer_url": "https://idp.example.com", "client_id": "taken"})
            }
            ("PUT", "/servers/{id}/walkthroughs/{walkthrough_id}") => {
                json!({"display_order": 9, "is_enabled": false})
            }
            ("PUT", "/servers/{id}/upstreams/{upstream_id}") => json!({"prefix": "taken"}),
            ("PATCH", "/upstreams/{id}") => json!({"name": "Taken"}),
            ("PATCH", "/walkthroughs/{id}") => json!({"title": "Taken"}),
            ("POST", "/walkthroughs/{id}/steps") => json!({"title": "Taken", "content": "Taken."}),
            ("PATCH", "/walkthroughs/{id}/steps/{step_id}") => json!({"title": "Taken"}),
            ("PATCH", "/support-requests/{id}") => json!({"status": "closed"}),
            ("PUT", "/policies") | ("POST", "/policies/check") => {
                json!({"source": "permit(principal, action, resource);"})
            }
            ("PUT", "/quotas") => json!({"rules": [{"target": {"kind": "any"}, "limit": 9,
                "window": "day"}]}),
            ("POST", "/policies/test") => json!({"server_id": self.server, "tool": "get_support",
                "caller": {"kind": "anonymous"}}),
            ("POST", "/support-requests/{id}/messages") => {
                json!({"kind": "note", "body": "Taken."})
            }
            _ => return None,
        };
        Some(body)
    }

    /// The fields of the dashboard form that A's owner would post to `template`.
    fn form(&self, template: &str) -> Vec<(&str, &str)> {
        let fields: &[(&str, &str)] = match template.trim_start_matches("/app") {
            "/members" => &[("email", "new@acme.example"), ("role", "owner")],
            "/members/{id}/role" => &[("role", "viewer")],
            "/api-keys" => &[("name", "Taken")],
            "/servers" | "/servers/{id}" => {
                &[("name", "Taken"), ("slug", "taken"), ("auth_mode", "none")]
            }
            "/walkthroughs" => &[("title", "Taken")],
            "/walkthroughs/{id}" => &[("title", "Taken"), ("status", "draft")],
            "/walkthroughs/{id}/steps" => &[("title", "Taken"), ("content", "Taken.")],
            "/walkthroughs/{id}/steps/{step_id}" => {
                &[("title", "Taken"), ("content", "Taken."), ("revision", "1")]
            }
            "/walkthroughs/{id}/steps/{step_id}/move" => &[("direction", "down")],
            "/walkthroughs/{id}/assignments/{server_id}" => &[("display_order", "9")],
            "/support/{id}/status" => &[("status", "closed")],
            "/support/{id}/reply" | "/support/{id}/note" => &[("body", "Taken.")],
            "/end-users/{id}/erase" => &[("confirm", "yes")],
            "/end-users/{id}/progress/reset" => &[
                ("server_id", &self.server),
                ("walkthrough_id", &self.walkthrough),
                ("confirm", "yes"),
            ],
            "/gateway/upstreams/{id}/disconnect"
            | "/end-users/{id}/upstreams/{upstream}/disconnect" => &[("confirm", "disconnect")],
            "/support/webhooks" => &[
                ("url", "https://hooks.acme.example/taken"),
                ("event_created", "on"),
            ],
            "/gateway/catalog/{entry}/install" => &[("name", "Taken")],
            "/gateway/catalog" => &[
                ("id", "taken"),
                ("name", "Taken"),
                ("runtime", "http"),
                ("url", "https://mcp.taken.example/mcp"),
            ],
            "/servers/{id}/tools" => &[("name", "fx__echo"), ("enabled", "false")],
            "/gateway/policies" => &[("source", "permit(principal, action, resource);")],
            "/gateway/policies/test" => &[
                ("server_id", &self.server),
                ("tool", "get_support"),
                ("caller", "anonymous"),
            ],
            "/gateway/upstreams/{id}/attach" => &[("server_id", &self.server), ("prefix", "taken")],
            _ => &[],
        };
        fields.to_vec()
    }
}

/// Installs the fixture for A, waits for its tools, and attaches it to A's server.
async fn install_and_attach(app: &TestApp, a: &Tenant, server: &str) -> String {
    let install = json!({"catalog_entry_id": "fixture"});
    let upstream = id_of(&owner_call(app, a, Method::POST, "/upstreams", Some(install)).await);
    // Ready only once its tools are stored.
    wait_for(app, a, &upstream, |u| u["status"] == "ready").await;
    let path = format!("/servers/{server}/upstreams/{upstream}");
    owner_call(app, a, Method::PUT, &path, Some(json!({"prefix": "fx"}))).await;
    upstream
}

/// A's owner's request through the API; it must succeed.
async fn owner_call(
    app: &TestApp,
    a: &Tenant,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let (status, answer) = app.api(method.clone(), path, &a.key, body).await;
    assert!(status.is_success(), "{method} {path}: {status} {answer}");
    answer
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_owned()
}

async fn first_id(app: &TestApp, a: &Tenant, list: &str) -> String {
    id_of(&owner_call(app, a, Method::GET, list, None).await["items"][0])
}

/// How a route answered one request of the walk.
struct Answer {
    method: Method,
    path: String,
    page: Page,
}

impl Answer {
    /// Whether it is the refusal expected; otherwise what was answered instead.
    fn check(&self, who: &str, status: StatusCode, phrase: &str) -> Result<(), String> {
        let Page {
            status: answered,
            location,
            body,
            ..
        } = &self.page;
        let location = location.as_deref().unwrap_or_default();
        if *answered == status && (body.contains(phrase) || location.starts_with(phrase)) {
            return Ok(());
        }
        let excerpt: String = body.chars().take(300).collect();
        Err(format!(
            "{} {} as {who}: expected {status} with {phrase:?}, got {answered} {location} {excerpt}",
            self.method, self.path
        ))
    }
}

/// The walk of one caller: the answers of the (method, path) pairs the routes serve, and
/// how many pairs answered 405 (a method the route does not serve).
struct Walk {
    answers: Vec<Answer>,
    not_served: usize,
}

impl Walk {
    /// Checks every answer against `expected` (status, and a phrase of the body or the
    /// start of the redirect); panics listing each one that differs.
    fn assert_refused(&self, who: &str, expected: (StatusCode, &str)) {
        let failures: Vec<String> = self
            .answers
            .iter()
            .filter_map(|answer| answer.check(who, expected.0, expected.1).err())
            .collect();
        assert!(
            failures.is_empty(),
            "{} of {} routes did not refuse {who}:\n{}",
            failures.len(),
            self.answers.len(),
            failures.join("\n")
        );
        assert!(
            self.answers.len() > 10,
            "{who}: walked too few: {}",
            self.answers.len()
        );
        println!(
            "{who}: {} (method, path) pairs refused with {}, {} not served (405)",
            self.answers.len(),
            expected.0,
            self.not_served
        );
    }
}

/// Sends every mutating method to every path of `templates` (filled with A's ids).
async fn walk(
    templates: &[String],
    objects: &Objects,
    mut send: impl AsyncFnMut(&Method, &str, &str) -> Page,
) -> Walk {
    let mut walk = Walk {
        answers: Vec::new(),
        not_served: 0,
    };
    for template in templates {
        let path = objects.fill(template);
        for method in MUTATING {
            let page = send(&method, template.as_str(), &path).await;
            if page.status == StatusCode::METHOD_NOT_ALLOWED {
                walk.not_served += 1;
                continue;
            }
            walk.answers.push(Answer {
                method,
                path: path.clone(),
                page,
            });
        }
    }
    walk
}

/// Whether `template` is `prefix` or a path below it.
fn is_under(template: &str, prefix: &str) -> bool {
    template
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn has_parameter(template: &str) -> bool {
    template.contains('{')
}

/// An API request with `key`, or with no Authorization header at all.
async fn api_request(
    app: &TestApp,
    objects: &Objects,
    key: Option<&str>,
    method: &Method,
    template: &str,
    path: &str,
) -> Page {
    let body = objects.api_body(method, template);
    let reply = app.client.call(method.clone(), path, key, body).await;
    Page {
        status: reply.status,
        location: None,
        refresh: None,
        body: reply.text,
    }
}

/// A dashboard form sent by `browser` with `method`.
async fn dashboard_request(
    browser: &mut Browser,
    objects: &Objects,
    method: &Method,
    template: &str,
    path: &str,
) -> Page {
    let fields = objects.form(template);
    browser.send(method.clone(), path, &fields).await
}

/// Everything of A's that a caller could change, as A's key and the store read it, less
/// what changes by itself: the state of the upstream's process, and when the end user was
/// last seen (written in the background after their call).
pub(crate) async fn snapshot(
    app: &TestApp,
    a: &Tenant,
    objects: &Objects,
) -> BTreeMap<String, Value> {
    let server = &objects.server;
    let upstream = &objects.upstream;
    let reads: [(String, &[&str]); 15] = [
        ("/organization".into(), &[]),
        ("/servers".into(), &[]),
        (format!("/servers/{server}/walkthroughs"), &[]),
        ("/walkthroughs".into(), &[]),
        (format!("/walkthroughs/{}", objects.walkthrough), &[]),
        (
            "/upstreams".into(),
            &["status", "restarts", "last_error", "updated_at"],
        ),
        (format!("/upstreams/{upstream}/tools"), &[]),
        ("/catalog".into(), &[]),
        ("/webhooks".into(), &[]),
        ("/interceptors".into(), &[]),
        ("/approvals".into(), &[]),
        ("/support-requests".into(), &[]),
        ("/end-users".into(), &["last_seen_at"]),
        ("/api-keys".into(), &[]),
        ("/audit-events?limit=200".into(), &[]),
    ];
    let mut seen = BTreeMap::new();
    for (path, changing) in reads {
        let mut read = owner_call(app, a, Method::GET, &path, None).await;
        for item in read["items"].as_array_mut().into_iter().flatten() {
            for key in changing {
                item.as_object_mut().unwrap().remove(*key);
            }
        }
        seen.insert(path, read);
    }
    let members = app.store.list_members(&a.org).await.unwrap();
    let members: Vec<String> = members
        .iter()
        .map(|m| format!("{} {} {}", m.id, m.email, m.role.as_str()))
        .collect();
    seen.insert("members".into(), json!(members));
    seen
}

pub(crate) fn assert_unchanged(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) {
    for (what, was) in before {
        assert_eq!(&after[what], was, "A's {what} changed during the walk");
    }
}

/// An app whose catalog offers the fixture, with a master key (webhooks keep a secret).
pub(crate) async fn walk_app(db: &TestDatabase, dir: &FixtureDir) -> OAuthApp {
    let catalog = dir.catalog(&[]);
    dashboard_app_with(db, move |settings| {
        settings.platform.catalog = catalog;
        settings.platform.master_key =
            Some(guidepost_core::secrets::MasterKey::from_bytes([5; 32]));
    })
    .await
}

backend_tests! {
    async fn every_api_route_refuses_a_caller_without_a_key_and_another_organizations_key(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let app = walk_app(db, &dir).await;
        let a = &app.tenant;
        let b = app.app.create_tenant("Globex").await;
        let objects = Objects::seed(&app, a).await;
        let before = snapshot(&app.app, a, &objects).await;
        let routes = guidepost_api::route_paths();

        let anonymous = walk(&routes, &objects, async |method, template, path| {
            api_request(&app.app, &objects, None, method, template, path).await
        }).await;
        anonymous.assert_refused("no API key", (StatusCode::UNAUTHORIZED, "A valid API key is required"));

        // A route without a parameter acts on the caller's own organization: B's key
        // there changes B, so only the routes that name one of A's objects are B's to try.
        let naming_a: Vec<String> = routes.iter().filter(|t| has_parameter(t)).cloned().collect();
        let other = walk(&naming_a, &objects, async |method, template, path| {
            api_request(&app.app, &objects, Some(&b.key), method, template, path).await
        }).await;
        other.assert_refused("B's API key", (StatusCode::NOT_FOUND, "does not exist in this organization"));

        assert_unchanged(&before, &snapshot(&app.app, a, &objects).await);
    }

    async fn every_dashboard_route_refuses_a_viewer_another_organization_and_the_signed_out(db: &TestDatabase) {
        let dir = FixtureDir::new();
        let app = walk_app(db, &dir).await;
        let a = &app.tenant;
        let b = app.app.create_tenant("Globex").await;
        let mut viewer = member(&app, a, "viewer@acme.example", Role::Viewer).await;
        let objects = Objects::seed(&app, a).await;
        let before = snapshot(&app.app, a, &objects).await;

        let routes = guidepost_dashboard::route_paths();
        for prefix in PERSONAL {
            assert!(routes.iter().any(|t| is_under(t, prefix)), "{prefix} is no route any more: update PERSONAL");
        }
        let organizational: Vec<String> = routes
            .into_iter()
            .filter(|t| !PERSONAL.iter().any(|prefix| is_under(t, prefix)))
            .collect();

        viewer.get("/app/").await.ok();
        let viewed = walk(&organizational, &objects, async |method, template, path| {
            dashboard_request(&mut viewer, &objects, method, template, path).await
        }).await;
        viewed.assert_refused("A's viewer", (StatusCode::FORBIDDEN, "Not allowed"));

        let mut theirs = member(&app, &b, "owner@globex.example", Role::Owner).await;
        theirs.get("/app/").await.ok();
        // As for the API, a route without a parameter acts on the member's own organization.
        let naming_a: Vec<String> = organizational.iter().filter(|t| has_parameter(t)).cloned().collect();
        let other = walk(&naming_a, &objects, async |method, template, path| {
            dashboard_request(&mut theirs, &objects, method, template, path).await
        }).await;
        other.assert_refused("B's owner", (StatusCode::NOT_FOUND, "belongs to another organization"));

        let mut stranger = Browser::new(&app.app.url);
        let signed_out = walk(&organizational, &objects, async |method, template, path| {
            dashboard_request(&mut stranger, &objects, method, template, path).await
        }).await;
        signed_out.assert_refused("no session", (StatusCode::SEE_OTHER, "/app/sign-in"));

        assert_unchanged(&before, &snapshot(&app.app, a, &objects).await);
    }
}
