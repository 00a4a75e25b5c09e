//! The limits sweep: every input with a size or count limit is taken at its limit and
//! refused at limit + 1 with an error that names the limit (API: a 422 problem; MCP: a
//! tool error, or 413 for the body). Page sizes are the exception by design: a `limit`
//! above 200 is lowered to 200 (`api::servers`).

use guidepost_domain::{Limits, MAX_STEPS};
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, spawn_app_with};

/// What one limit answered at the limit and one past it.
struct Probe {
    what: &'static str,
    limit: usize,
    at: (StatusCode, Value),
    over: (StatusCode, Value),
}

impl Probe {
    fn check(&self) -> Option<String> {
        let (at, over) = (&self.at, &self.over);
        let over_text = over.1.to_string();
        if !at.0.is_success() || at.1["result"]["isError"] == true {
            Some(format!(
                "{} at its limit {} was refused: {} {}",
                self.what, self.limit, at.0, at.1
            ))
        } else if !(over.0.is_client_error() || over.1["result"]["isError"] == true) {
            Some(format!(
                "{} at {} was taken: {} {over_text}",
                self.what,
                self.limit + 1,
                over.0
            ))
        } else if !over_text.contains(&self.limit.to_string()) {
            Some(format!(
                "{}: the error does not name the limit {}: {over_text}",
                self.what, self.limit
            ))
        } else {
            None
        }
    }
}

fn text(n: usize) -> String {
    "x".repeat(n)
}

async fn post(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, path, &tenant.key, Some(body)).await
}

async fn patch(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> (StatusCode, Value) {
    app.api(Method::PATCH, path, &tenant.key, Some(body)).await
}

async fn support(mcp: &RawMcp, field: &str, n: usize) -> (StatusCode, Value) {
    let mut arguments = json!({"title": "t", "problem_description": "d", "email": "a@b.example"});
    arguments[field] = json!(match field {
        "email" => format!("{}@b.example", text(n - "@b.example".len())),
        _ => text(n),
    });
    let answer = mcp.call_tool(1, "get_support", arguments).await;
    (answer.status, answer.body)
}

backend_tests! {
    async fn every_limit_takes_its_limit_and_refuses_one_more_by_name(db: &TestDatabase) {
        let app = spawn_app_with(db, |settings| {
            settings.mcp.rate_limits.per_user_per_minute = 0;
            settings.mcp.rate_limits.per_ip_per_minute = 0;
            settings.webhooks.allow_private = true;
            settings.platform.master_key = Some(guidepost_core::secrets::MasterKey::from_bytes([5; 32]));
            settings.platform.container_images = vec!["registry.example.com/team/server:1.2".into()];
        })
        .await;
        let t = app.create_tenant("Acme").await;
        let server = app.create_server(&t, "acme", json!({})).await;
        let server = format!("/servers/{}", server["id"].as_str().unwrap());
        let (_, walkthrough) = post(&app, &t, "/walkthroughs", json!({"title": "W"})).await;
        let steps = format!("/walkthroughs/{}/steps", walkthrough["id"].as_str().unwrap());
        let mcp = RawMcp::new(format!("{}?tracking_id=limits", app.mcp_path_url("acme")), STATELESS_ERA);
        let mut probes = Vec::new();

        let (at, over) = (Limits::NAME, Limits::NAME + 1);
        probes.push(Probe { what: "server name", limit: at,
            at: post(&app, &t, "/servers", json!({"name": text(at), "slug": "named-a"})).await,
            over: post(&app, &t, "/servers", json!({"name": text(over), "slug": "named-b"})).await });
        let limit = Limits::INSTRUCTIONS;
        probes.push(Probe { what: "server instructions", limit,
            at: patch(&app, &t, &server, json!({"instructions": text(limit)})).await,
            over: patch(&app, &t, &server, json!({"instructions": text(limit + 1)})).await });
        let origins = |n: usize| json!({"allowed_origins": (0..n).map(|i| format!("https://o{i}.example.com")).collect::<Vec<_>>()});
        let limit = Limits::ALLOWED_ORIGINS;
        probes.push(Probe { what: "allowed origins", limit,
            at: patch(&app, &t, &server, origins(limit)).await,
            over: patch(&app, &t, &server, origins(limit + 1)).await });

        let limit = Limits::TITLE;
        probes.push(Probe { what: "walkthrough title", limit,
            at: post(&app, &t, "/walkthroughs", json!({"title": text(limit)})).await,
            over: post(&app, &t, "/walkthroughs", json!({"title": text(limit + 1)})).await });
        let limit = Limits::DESCRIPTION;
        probes.push(Probe { what: "walkthrough description", limit,
            at: post(&app, &t, "/walkthroughs", json!({"title": "d", "description": text(limit)})).await,
            over: post(&app, &t, "/walkthroughs", json!({"title": "d", "description": text(limit + 1)})).await });
        let tags = |n: usize| json!({"title": "t", "tags": (0..n).map(|i| format!("tag{i}")).collect::<Vec<_>>()});
        let limit = guidepost_core::walkthroughs::authoring::MAX_TAGS;
        probes.push(Probe { what: "tags per walkthrough", limit,
            at: post(&app, &t, "/walkthroughs", tags(limit)).await,
            over: post(&app, &t, "/walkthroughs", tags(limit + 1)).await });
        let limit = guidepost_core::walkthroughs::authoring::MAX_TAG_LENGTH;
        probes.push(Probe { what: "tag length", limit,
            at: post(&app, &t, "/walkthroughs", json!({"title": "t", "tags": [text(limit)]})).await,
            over: post(&app, &t, "/walkthroughs", json!({"title": "t", "tags": [text(limit + 1)]})).await });
        let limit = guidepost_core::walkthroughs::authoring::MAX_STEP_CONTENT;
        probes.push(Probe { what: "step content", limit,
            at: post(&app, &t, &steps, json!({"title": "s", "content": text(limit)})).await,
            over: post(&app, &t, &steps, json!({"title": "s", "content": text(limit + 1)})).await });
        let limit = Limits::TITLE;
        probes.push(Probe { what: "step title", limit,
            at: post(&app, &t, &steps, json!({"title": text(limit), "content": "c"})).await,
            over: post(&app, &t, &steps, json!({"title": text(limit + 1), "content": "c"})).await });

        // Steps per walkthrough: filled to one short of the limit through the service.
        let full = app.seed_walkthrough(&t, "Full", MAX_STEPS - 1, None).await;
        let full_steps = format!("/walkthroughs/{}/steps", full.id);
        probes.push(Probe { what: "steps per walkthrough", limit: MAX_STEPS,
            at: post(&app, &t, &full_steps, json!({"title": "last", "content": "c"})).await,
            over: post(&app, &t, &full_steps, json!({"title": "one more", "content": "c"})).await });

        let hook = |n: usize| json!({"url": format!("http://127.0.0.1:9/{}", text(n - "http://127.0.0.1:9/".len())),
            "events": ["support_request.created"]});
        probes.push(Probe { what: "webhook URL", limit: 2048,
            at: post(&app, &t, "/webhooks", hook(2048)).await,
            over: post(&app, &t, "/webhooks", hook(2049)).await });
        let limit = Limits::WEBHOOKS;
        for _ in 1..limit - 1 {
            post(&app, &t, "/webhooks", hook(40)).await;
        }
        probes.push(Probe { what: "webhooks per organization", limit,
            at: post(&app, &t, "/webhooks", hook(40)).await,
            over: post(&app, &t, "/webhooks", hook(40)).await });

        // Remote entries: the address, and the settings an entry asks for (count and words);
        // another organization's, so that this one's catalog fills to its own limit below.
        let r = app.create_tenant("Remote").await;
        let remote = |id: &str, url: String, config: Value| json!({"id": id, "name": "Remote", "description": "d",
            "config": config, "spec": {"runtime": "http", "url": url}});
        let url = |n: usize| format!("https://mcp.example.com/{}", text(n - "https://mcp.example.com/".len()));
        probes.push(Probe { what: "catalog entry URL", limit: 2048,
            at: post(&app, &r, "/catalog", remote("remote-at", url(2048), json!([]))).await,
            over: post(&app, &r, "/catalog", remote("remote-over", url(2049), json!([]))).await });
        let settings = |n: usize| json!((0..n).map(|i| json!({"name": format!("s{i}"), "description": "d", "type": "string", "default": "x"})).collect::<Vec<_>>());
        probes.push(Probe { what: "catalog entry settings", limit: 32,
            at: post(&app, &r, "/catalog", remote("settings-at", url(40), settings(32))).await,
            over: post(&app, &r, "/catalog", remote("settings-over", url(40), settings(33))).await });
        let described = |n: usize| json!([{"name": "s", "description": text(n), "type": "string", "default": "x"}]);
        probes.push(Probe { what: "catalog entry setting's description", limit: 1000,
            at: post(&app, &r, "/catalog", remote("described-at", url(40), described(1000))).await,
            over: post(&app, &r, "/catalog", remote("described-over", url(40), described(1001))).await });

        let entry = |id: String, description: usize| json!({"id": id, "name": "Boxed", "description": text(description),
            "spec": {"runtime": "container", "image": "registry.example.com/team/server:1.2"}});
        probes.push(Probe { what: "catalog entry description", limit: 1000,
            at: post(&app, &t, "/catalog", entry("described".into(), 1000)).await,
            over: post(&app, &t, "/catalog", entry("overdescribed".into(), 1001)).await });
        let limit = Limits::CATALOG_ENTRIES;
        for n in 1..limit - 1 {
            post(&app, &t, "/catalog", entry(format!("entry-{n}"), 1)).await;
        }
        probes.push(Probe { what: "catalog entries per organization", limit,
            at: post(&app, &t, "/catalog", entry("entry-last".into(), 1)).await,
            over: post(&app, &t, "/catalog", entry("entry-over".into(), 1)).await });

        for (field, limit) in [("title", Limits::TITLE), ("problem_description", Limits::DESCRIPTION),
                               ("problem_context", Limits::CONTEXT), ("email", Limits::EMAIL)] {
            probes.push(Probe { what: field, limit,
                at: support(&mcp, field, limit).await, over: support(&mcp, field, limit + 1).await });
        }
        // Messages per support request: filled through the store to one short of the
        // limit; the follow-up past it says so, and how to go on (a new request).
        let open = json!({"title": "t", "problem_description": "d", "email": "a@b.example"});
        let opened = mcp.call_tool(2, "get_support", open).await;
        let request = opened.body["result"]["structuredContent"]["support_request_id"].as_str().unwrap().to_owned();
        let request_id = guidepost_domain::SupportRequestId::parse(&request).unwrap();
        let limit = guidepost_store::MAX_SUPPORT_MESSAGES as usize;
        for _ in 1..limit {
            let note = guidepost_store::NewSupportMessage { request: &request_id,
                kind: guidepost_domain::SupportMessageKind::Note, author: "team@acme.example", body: "n" };
            app.store.add_support_message(&t.org, &note, guidepost_domain::Timestamp::now()).await.unwrap();
        }
        let follow_up = json!({"title": "t", "problem_description": "more", "email": "a@b.example", "support_request_id": request});
        let at = mcp.call_tool(3, "get_support", follow_up.clone()).await;
        let over = mcp.call_tool(4, "get_support", follow_up).await;
        assert!(over.body.to_string().contains("open a new request"), "{}", over.body);
        probes.push(Probe { what: "messages per support request", limit, at: (at.status, at.body), over: (over.status, over.body) });

        // What an organization keeps only so many of, each filled to one short of its cap
        // in an organization of its own.
        let c = app.create_tenant("Caps").await;
        for n in 1..Limits::SERVERS {
            post(&app, &c, "/servers", json!({"name": "S", "slug": format!("capped-{n}")})).await;
        }
        probes.push(Probe { what: "servers per organization", limit: Limits::SERVERS,
            at: post(&app, &c, "/servers", json!({"name": "S", "slug": "capped-last"})).await,
            over: post(&app, &c, "/servers", json!({"name": "S", "slug": "capped-over"})).await });
        let operator = guidepost_core::Caller::operator(c.org.clone());
        for n in 1..Limits::WALKTHROUGHS {
            let input = guidepost_core::walkthroughs::authoring::CreateWalkthrough { title: format!("W{n}"),
                description: None, tags: None, estimated_duration_minutes: None, metadata: None };
            guidepost_core::walkthroughs::authoring::create(&app.app.platform, &operator, input, None).await.unwrap();
        }
        probes.push(Probe { what: "walkthroughs per organization", limit: Limits::WALKTHROUGHS,
            at: post(&app, &c, "/walkthroughs", json!({"title": "last"})).await,
            over: post(&app, &c, "/walkthroughs", json!({"title": "over"})).await });
        // The tenant's own key is the first.
        for n in 2..Limits::API_KEYS {
            post(&app, &c, "/api-keys", json!({"name": format!("k{n}")})).await;
        }
        probes.push(Probe { what: "API keys per organization", limit: Limits::API_KEYS,
            at: post(&app, &c, "/api-keys", json!({"name": "last"})).await,
            over: post(&app, &c, "/api-keys", json!({"name": "over"})).await });

        let tracked = |n: usize| RawMcp::new(format!("{}?tracking_id={}", app.mcp_path_url("acme"), text(n)), STATELESS_ERA);
        let limit = Limits::TRACKING_ID;
        let at = tracked(limit).call(1, "tools/list", json!({})).await;
        let over = tracked(limit + 1).call(1, "tools/list", json!({})).await;
        probes.push(Probe { what: "tracking id", limit, at: (at.status, at.body), over: (over.status, over.body) });

        let failures: Vec<String> = probes.iter().filter_map(Probe::check).collect();
        assert!(failures.is_empty(), "{} of {} limits:\n{}", failures.len(), probes.len(), failures.join("\n"));
        println!("{} limits taken at the limit and refused by name one past it", probes.len());
    }

    async fn additions_at_once_past_a_cap_take_only_what_it_leaves(db: &TestDatabase) {
        // Counted before an unconditional insert, five additions at once one short of the
        // cap each saw room for one.
        let app = spawn_app_with(db, |settings| {
            settings.webhooks.allow_private = true;
            settings.platform.master_key = Some(guidepost_core::secrets::MasterKey::from_bytes([5; 32]));
        })
        .await;
        let t = app.create_tenant("Acme").await;
        let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["support_request.created"]});
        for _ in 1..Limits::WEBHOOKS {
            assert_eq!(post(&app, &t, "/webhooks", hook.clone()).await.0, StatusCode::CREATED);
        }
        for n in 2..Limits::API_KEYS {
            assert_eq!(post(&app, &t, "/api-keys", json!({"name": format!("k{n}")})).await.0, StatusCode::CREATED);
        }
        let hooks = futures::future::join_all((0..5).map(|_| post(&app, &t, "/webhooks", hook.clone()))).await;
        let keys = futures::future::join_all((0..5).map(|n| post(&app, &t, "/api-keys", json!({"name": format!("at once {n}")})))).await;
        for (what, answers) in [("webhooks", &hooks), ("API keys", &keys)] {
            let statuses: Vec<StatusCode> = answers.iter().map(|(status, _)| *status).collect();
            let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
            assert_eq!(created, 1, "{what}: one left room for one: {statuses:?}");
            assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{what}: {statuses:?}");
        }
        let (_, listed) = app.api(Method::GET, "/webhooks?limit=200", &t.key, None).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), Limits::WEBHOOKS, "{listed}");
        let (_, keys) = app.api(Method::GET, "/api-keys?limit=200", &t.key, None).await;
        assert_eq!(keys["items"].as_array().unwrap().len(), Limits::API_KEYS, "{keys}");
    }
}
