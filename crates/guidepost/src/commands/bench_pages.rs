//! `guidepost bench --pages`: seeds a year of one organization's data (`bench_seed`) into a
//! Guidepost of this process, then loads every data-bearing dashboard page and its API
//! twin `--loads` times, one request at a time, and prints p50 and p95 per page as a
//! table (the one in docs/PERFORMANCE.md). A page that does not answer 200 fails the run.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use anyhow::Context;
use async_trait::async_trait;
use guidepost_core::insights::analytics::percentile;
use guidepost_core::mail::{Mail, MailError};
use guidepost_core::{Caller, accounts::members, accounts::organizations};
use guidepost_domain::*;
use serde::Serialize;
use serde_json::json;

use super::bench_seed::{SeedSize, Seeded, seed};
use super::target::checked;
use crate::app;
use crate::cli::BenchArgs;
use crate::config::Settings;
use crate::output;

/// The figure every page should stay under at p95.
const TARGET_P95_MS: f64 = 150.0;
const MEMBER_EMAIL: &str = "owner@bench.example";

#[derive(Debug, Serialize)]
pub struct PagesReport {
    pub backend: String,
    pub build: &'static str,
    pub tool_calls: u64,
    pub end_users: u32,
    pub support_requests: u32,
    pub seed_seconds: f64,
    pub loads: u32,
    pub pages: Vec<PageFigures>,
}

#[derive(Debug, Serialize)]
pub struct PageFigures {
    pub page: String,
    pub dashboard: Option<Figures>,
    pub api: Option<Figures>,
}

#[derive(Debug, Serialize)]
pub struct Figures {
    pub path: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

pub async fn run(args: &BenchArgs, database_url: Option<String>, json: bool) -> anyhow::Result<()> {
    let (url, _dir) = super::bench::database_or_temporary(database_url)?;
    let mut settings = Settings::local(url.clone());
    settings.mcp.rate_limits.per_user_per_minute = 0;
    settings.mcp.rate_limits.per_ip_per_minute = 0;
    // Keep the whole seeded year: the retention sweep must not thin it while pages load.
    settings.platform.retention = std::time::Duration::from_secs(400 * 24 * 3600);
    let running = app::start(settings).await?;
    let platform = running.platform.clone();
    let (org, key) = organizations::create(&platform, "Bench").await?;
    let base = running.url();
    let http = reqwest::Client::new();
    let servers = create_servers(&http, &base, &key.plaintext).await?;
    let store = guidepost_store::connect(&url)
        .await
        .with_context(|| format!("opening {}", guidepost_store::redact(&url)))?;
    let size = SeedSize {
        calls: args.seed_calls,
        end_users: args.seed_end_users,
        support_requests: args.seed_support_requests,
    };
    let seeded = seed(&*store, &org.id, &servers, &size).await?;
    let session = sign_in(&platform, &org.id).await?;
    let client = Client {
        http,
        base,
        key: key.plaintext,
        cookie: format!("__Host-gp_dashboard={session}"),
    };
    let mut pages = Vec::new();
    for (page, dashboard, api) in pages_to_load(&servers, &seeded) {
        output::progress(format!("loading {page} …"));
        pages.push(PageFigures {
            page,
            dashboard: client.measure(dashboard, false, args.loads).await?,
            api: client.measure(api, true, args.loads).await?,
        });
    }
    output::note!("");
    let report = PagesReport {
        backend: if url.starts_with("sqlite:") {
            "SQLite"
        } else {
            "PostgreSQL"
        }
        .to_owned(),
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        tool_calls: size.calls,
        end_users: size.end_users,
        support_requests: size.support_requests,
        seed_seconds: seeded.seconds,
        loads: args.loads,
        pages,
    };
    output::print(json, &report, render);
    running.shutdown().await?;
    Ok(())
}

/// Three servers, as an organization with a docs, a support and a tools server has.
async fn create_servers(
    http: &reqwest::Client,
    base: &str,
    key: &str,
) -> anyhow::Result<Vec<ServerId>> {
    let mut ids = Vec::new();
    let tag = EndUserId::generate().as_str()[4..12].to_owned();
    for name in ["Docs", "Support", "Tools"] {
        let body = json!({"name": name, "slug": format!("bench-{}-{tag}", name.to_lowercase())});
        let request = http.post(format!("{base}/api/v1/servers")).bearer_auth(key);
        let server = checked(request.json(&body).send().await?).await?;
        let id = server["id"]
            .as_str()
            .context("the API returned no server id")?;
        ids.push(Id::parse(id).context("the API returned a malformed server id")?);
    }
    Ok(ids)
}

/// Mail that keeps the last message's body, to read the sign-in code from.
#[derive(Default)]
struct Kept(Mutex<Option<String>>);

#[async_trait]
impl Mail for Kept {
    async fn send(&self, _to: &Email, _subject: &str, body: &str) -> Result<(), MailError> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *kept = Some(body.to_owned());
        Ok(())
    }
}

/// An owner of the organization signed in through the real code flow: their session token.
async fn sign_in(platform: &guidepost_core::Platform, org: &OrgId) -> anyhow::Result<String> {
    let email = Email::parse(MEMBER_EMAIL)?;
    let operator = Caller::operator(org.clone());
    members::add(platform, &operator, &email, Role::Owner).await?;
    let mail = Kept::default();
    members::start_sign_in(platform, &mail, MEMBER_EMAIL).await?;
    let body = mail
        .0
        .lock()
        .ok()
        .and_then(|kept| kept.clone())
        .context("no sign-in code was mailed")?;
    let code: String = body
        .lines()
        .map(str::trim)
        .find(|line| line.len() >= 6 && line.chars().all(|c| c.is_ascii_digit()))
        .context("the sign-in mail holds no code")?
        .to_owned();
    let (token, _) = members::finish_sign_in(platform, MEMBER_EMAIL, &code).await?;
    Ok(token)
}

/// (page, dashboard path, API path): every page whose work grows with the data.
fn pages_to_load(
    servers: &[ServerId],
    seeded: &Seeded,
) -> Vec<(String, Option<String>, Option<String>)> {
    let ago = |days: i64| {
        Timestamp::now()
            .plus_seconds(-days * 24 * 3600)
            .to_rfc3339()
    };
    let server = &servers[0];
    let (few, few_count) = &seeded.few_calls;
    let (thousand, thousand_count) = &seeded.thousand_calls;
    let request = &seeded.support_request;
    let busiest = &seeded.busiest;
    let both = |page: String, dashboard: String, api: String| (page, Some(dashboard), Some(api));
    vec![
        (String::from("overview"), Some("/app/".into()), None),
        both(
            "analytics, 24 hours".into(),
            "/app/analytics?days=1".into(),
            format!("/api/v1/analytics/tools?since={}", ago(1)),
        ),
        both(
            "analytics, 7 days".into(),
            "/app/analytics?days=7".into(),
            format!("/api/v1/analytics/tools?since={}", ago(7)),
        ),
        both(
            "analytics, 30 days".into(),
            "/app/analytics?days=30".into(),
            format!("/api/v1/analytics/tools?since={}", ago(30)),
        ),
        both(
            "analytics, 30 days, one server".into(),
            format!("/app/analytics?days=30&server={server}"),
            format!(
                "/api/v1/analytics/tools?since={}&server_id={server}",
                ago(30)
            ),
        ),
        both(
            "analytics, 31 days picked".into(),
            format!(
                "/app/analytics?from={}&to={}",
                &ago(60)[..10],
                &ago(30)[..10]
            ),
            format!(
                "/api/v1/analytics/tools?since={}&until={}",
                ago(61),
                ago(30)
            ),
        ),
        both(
            "analytics CSV, 30 days".into(),
            format!("/app/analytics/export?since={}", ago(30)),
            format!("/api/v1/analytics/tools/export?since={}", ago(30)),
        ),
        both(
            "tool-call log".into(),
            "/app/tool-calls".into(),
            "/api/v1/tool-calls?limit=50".into(),
        ),
        both(
            "tool-call log, errors of one tool".into(),
            format!("/app/tool-calls?tool=fetch&errors=on&server={server}"),
            format!(
                "/api/v1/tool-calls?tool_name=fetch&errors_only=true&server_id={server}&limit=50"
            ),
        ),
        both(
            "tool-call log, busiest person, errors".into(),
            format!("/app/tool-calls?person={busiest}&errors=on"),
            format!("/api/v1/tool-calls?end_user_id={busiest}&errors_only=true&limit=50"),
        ),
        both(
            "end users".into(),
            "/app/end-users".into(),
            "/api/v1/end-users".into(),
        ),
        both(
            format!("end user with {few_count} calls"),
            format!("/app/end-users/{few}"),
            format!("/api/v1/end-users/{few}"),
        ),
        both(
            format!("end user with {thousand_count} calls"),
            format!("/app/end-users/{thousand}"),
            format!("/api/v1/end-users/{thousand}"),
        ),
        both(
            "support inbox".into(),
            "/app/support".into(),
            "/api/v1/support-requests".into(),
        ),
        both(
            "support request".into(),
            format!("/app/support/{request}"),
            format!("/api/v1/support-requests/{request}"),
        ),
        both(
            "feedback".into(),
            "/app/support/feedback".into(),
            "/api/v1/feedback".into(),
        ),
        both(
            "missing capabilities, 30 days".into(),
            format!("/app/analytics/missing?server={server}&days=30"),
            format!("/api/v1/servers/{server}/missing-capabilities?days=30"),
        ),
        both(
            "servers".into(),
            "/app/servers".into(),
            "/api/v1/servers".into(),
        ),
        both(
            "server".into(),
            format!("/app/servers/{server}"),
            format!("/api/v1/servers/{server}"),
        ),
    ]
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    cookie: String,
}

impl Client {
    /// p50 and p95 of `loads` loads of `path` (after one untimed load), whole body read.
    async fn measure(
        &self,
        path: Option<String>,
        api: bool,
        loads: u32,
    ) -> anyhow::Result<Option<Figures>> {
        let Some(path) = path else {
            return Ok(None);
        };
        let mut micros = Vec::with_capacity(loads as usize);
        for load in 0..=loads {
            let started = Instant::now();
            let request = self.http.get(format!("{}{path}", self.base));
            let request = if api {
                request.bearer_auth(&self.key)
            } else {
                request.header("cookie", &self.cookie)
            };
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            if status != reqwest::StatusCode::OK {
                let text = String::from_utf8_lossy(&body);
                anyhow::bail!("{path} answered {status}: {}", &text[..text.len().min(300)]);
            }
            if load > 0 {
                micros.push(started.elapsed().as_micros() as i64);
            }
        }
        micros.sort_unstable();
        let ms = |p| percentile(&micros, p) as f64 / 1_000.0;
        Ok(Some(Figures {
            path,
            p50_ms: ms(50.0),
            p95_ms: ms(95.0),
        }))
    }
}

fn render(report: &PagesReport) -> String {
    let cell = |figures: &Option<Figures>| match figures {
        Some(f) => {
            let over = if f.p95_ms > TARGET_P95_MS { " ⚠" } else { "" };
            format!("{:.1} | {:.1}{over}", f.p50_ms, f.p95_ms)
        }
        None => "– | –".to_owned(),
    };
    let mut lines = vec![
        format!(
            "{} ({} build): {} tool calls, {} end users, {} support requests, seeded in {:.0} s; {} loads per page",
            report.backend,
            report.build,
            report.tool_calls,
            report.end_users,
            report.support_requests,
            report.seed_seconds,
            report.loads
        ),
        String::new(),
        "| page | dashboard p50 ms | dashboard p95 ms | API p50 ms | API p95 ms |".to_owned(),
        "|---|---:|---:|---:|---:|".to_owned(),
    ];
    for page in &report.pages {
        lines.push(format!(
            "| {} | {} | {} |",
            page.page,
            cell(&page.dashboard),
            cell(&page.api)
        ));
    }
    lines.join("\n")
}
