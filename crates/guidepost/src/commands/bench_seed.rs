//! `guidepost bench --pages`, part one: a year of an organization's data written straight
//! through the store in bulk (end users, tool calls with their rollups, support requests),
//! with a progress line. The numbers come from a fixed-seed generator, so that two runs
//! seed the same shape: calls spread evenly over 365 days, people from very busy to
//! barely seen, durations from 200 µs to 2 s around a median of about 20 ms, 3 % errors.

use std::time::Instant;

use guidepost_domain::*;
use guidepost_store::Store;

use crate::output;

const YEAR_SECONDS: i64 = 365 * 24 * 3600;
/// Calls written per store call (the store writes them in chunks within one transaction).
const CALLS_PER_BATCH: usize = 5_000;
const PEOPLE_PER_BATCH: usize = 5_000;
const TOOLS: [&str; 8] = [
    "search",
    "lookup",
    "fetch",
    "get_support",
    "list_walkthroughs",
    "select_walkthrough",
    "next_walkthrough_step",
    "walkthrough_status",
];
/// Names agents call that no server offers (the refused calls' names).
const UNKNOWN_TOOLS: [&str; 4] = ["search_docs", "deploy", "open_ticket", "read_file"];

/// How much to seed.
pub(super) struct SeedSize {
    pub calls: u64,
    pub end_users: u32,
    pub support_requests: u32,
}

/// What was seeded, for the pages to load: people by how many calls they made, and one
/// support request.
pub(super) struct Seeded {
    pub busiest: EndUserId,
    /// The person whose call count is nearest 5, and theirs.
    pub few_calls: (EndUserId, u32),
    /// The person whose call count is nearest 1,000, and theirs.
    pub thousand_calls: (EndUserId, u32),
    pub support_request: SupportRequestId,
    pub seconds: f64,
}

/// A small, fixed-seed generator (SplitMix64): the seed's shape is the same every run.
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize
    }
}

pub(super) async fn seed(
    store: &dyn Store,
    org: &OrgId,
    servers: &[ServerId],
    size: &SeedSize,
) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let now = Timestamp::now();
    let mut numbers = Numbers(0x6775_6964_6570_6f73);
    let people = seed_people(store, org, size.end_users, now, &mut numbers).await?;
    let mut calls_of = vec![0u32; people.len()];
    let mut written = 0u64;
    while written < size.calls {
        let count = CALLS_PER_BATCH.min((size.calls - written) as usize);
        let batch: Vec<ToolCall> = (0..count)
            .map(|_| {
                let (call, person) = one_call(org, servers, &people, now, &mut numbers);
                calls_of[person] += 1;
                call
            })
            .collect();
        store.insert_tool_calls(&batch).await?;
        written += count as u64;
        show(started, "tool calls", written, size.calls);
    }
    let support_request = seed_support(
        store,
        org,
        servers,
        &people,
        size.support_requests,
        now,
        &mut numbers,
    )
    .await?;
    output::note!("");
    let nearest = |target: u32| {
        let (index, count) = calls_of
            .iter()
            .enumerate()
            .min_by_key(|(_, count)| count.abs_diff(target))
            .map(|(i, c)| (i, *c))
            .unwrap_or((0, 0));
        (people[index].clone(), count)
    };
    Ok(Seeded {
        busiest: people.first().cloned().unwrap_or_else(EndUserId::generate),
        few_calls: nearest(5),
        thousand_calls: nearest(1_000),
        support_request,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The people, seven in ten with an email, first seen over the year.
async fn seed_people(
    store: &dyn Store,
    org: &OrgId,
    count: u32,
    now: Timestamp,
    numbers: &mut Numbers,
) -> anyhow::Result<Vec<EndUserId>> {
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count as usize);
    let everyone: Vec<u32> = (0..count).collect();
    for chunk in everyone.chunks(PEOPLE_PER_BATCH) {
        let batch: Vec<EndUser> = chunk
            .iter()
            .map(|n| {
                let first_seen = now.plus_seconds(-((numbers.unit() * YEAR_SECONDS as f64) as i64));
                let email = (numbers.unit() < 0.7)
                    .then(|| Email::parse(&format!("person{n}@bench.example")).ok())
                    .flatten();
                EndUser {
                    id: EndUserId::generate(),
                    org_id: org.clone(),
                    tracking_id: Some(format!("bench-person-{n}")),
                    email_verified: email.is_some(),
                    email,
                    linked_end_user_id: None,
                    first_seen_at: first_seen,
                    last_seen_at: now,
                }
            })
            .collect();
        ids.extend(batch.iter().map(|p| p.id.clone()));
        store.insert_end_users(&batch).await?;
        show(started, "end users", ids.len() as u64, u64::from(count));
    }
    output::note!("");
    Ok(ids)
}

/// One call at a random time of the year, by a person drawn so that the first people are
/// very busy and the last barely seen (the index is `count × u³`); returns the person's
/// index with it.
fn one_call(
    org: &OrgId,
    servers: &[ServerId],
    people: &[EndUserId],
    now: Timestamp,
    numbers: &mut Numbers,
) -> (ToolCall, usize) {
    let person = ((numbers.unit().powi(3)) * people.len() as f64) as usize;
    let person = person.min(people.len().saturating_sub(1));
    let server = &servers[numbers.below(servers.len())];
    let tool = TOOLS[numbers.below(TOOLS.len())];
    let is_error = numbers.unit() < 0.03;
    // One error in three is a refusal, so that the missing-capabilities report has some:
    // a name nobody offers, or arguments the tool refused.
    let refusal = match (is_error, numbers.below(6)) {
        (true, 0) => Some(CallRefusal::UnknownTool),
        (true, 1) => Some(CallRefusal::InvalidArguments),
        _ => None,
    };
    let tool = match refusal {
        Some(CallRefusal::UnknownTool) => UNKNOWN_TOOLS[numbers.below(UNKNOWN_TOOLS.len())],
        _ => tool,
    };
    // Log-uniform from 200 µs to 2 s.
    let duration_us = (200.0 * (10_000f64).powf(numbers.unit())) as i64;
    let at = now.plus_seconds(-((numbers.unit() * YEAR_SECONDS as f64) as i64));
    let call = ToolCall {
        id: ToolCallId::generate(),
        org_id: org.clone(),
        server_id: server.clone(),
        session_id: None,
        end_user_id: people.get(person).cloned(),
        tool_name: tool.to_owned(),
        arguments: r#"{"query":"how do I start?"}"#.to_owned(),
        result_summary: if is_error {
            "upstream timed out".to_owned()
        } else {
            "3 results".to_owned()
        },
        is_error,
        error_code: is_error.then_some(-32603),
        duration_us,
        created_at: at,
        upstream_id: None,
        is_test: false,
        refusal,
    };
    (call, person)
}

async fn seed_support(
    store: &dyn Store,
    org: &OrgId,
    servers: &[ServerId],
    people: &[EndUserId],
    count: u32,
    now: Timestamp,
    numbers: &mut Numbers,
) -> anyhow::Result<SupportRequestId> {
    let started = Instant::now();
    let statuses = [
        SupportStatus::Open,
        SupportStatus::Resolved,
        SupportStatus::Closed,
    ];
    let mut requests = Vec::with_capacity(count as usize);
    for n in 0..count {
        let at = now.plus_seconds(-((numbers.unit() * YEAR_SECONDS as f64) as i64));
        let person = numbers.below(people.len());
        requests.push(SupportRequest {
            id: SupportRequestId::generate(),
            org_id: org.clone(),
            server_id: servers[numbers.below(servers.len())].clone(),
            end_user_id: people.get(person).cloned(),
            email: Email::parse(&format!("person{person}@bench.example"))?,
            title: format!("Stuck on step {}", n % 7 + 1),
            description: "The walkthrough says to run the installer, and nothing happens."
                .to_owned(),
            context: Some(r#"{"step":"install"}"#.to_owned()),
            status: statuses[numbers.below(statuses.len())],
            created_at: at,
            updated_at: at,
        });
    }
    for (done, chunk) in requests.chunks(PEOPLE_PER_BATCH).enumerate() {
        store.insert_support_requests(chunk).await?;
        let written = ((done + 1) * PEOPLE_PER_BATCH).min(requests.len());
        show(
            started,
            "support requests",
            written as u64,
            u64::from(count),
        );
    }
    requests
        .last()
        .map(|r| r.id.clone())
        .ok_or_else(|| anyhow::anyhow!("seed at least one support request"))
}

/// The progress line: how many of what, and how fast.
fn show(started: Instant, what: &str, done: u64, total: u64) {
    let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
    output::progress(format!(
        "seeding {what}: {done} of {total} ({:.0} %), {rate:.0}/s",
        done as f64 * 100.0 / total.max(1) as f64
    ));
}
