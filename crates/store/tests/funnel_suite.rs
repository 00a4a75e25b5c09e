//! A walkthrough's funnel counted by the store, on every backend: distinct end users per
//! step (reached, completed), started and completed, the middle completion times, over
//! every server or one, inside one organization, in one statement whatever the number of
//! progress records; the counts are those of the definition applied to the records
//! themselves (`expected`, what the report computed in memory before).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use guidepost_domain::*;
use guidepost_store::{FunnelCounts, ProgressKey, StepCount, Store};
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{new_org, new_server, new_walkthrough, step};

/// A published walkthrough with steps `a`, `b`, `c` and two servers it is on.
struct World {
    org: OrgId,
    walkthrough: WalkthroughId,
    version: WalkthroughVersion,
    servers: [ServerId; 2],
}

async fn world(store: &Arc<dyn Store>, name: &str) -> World {
    let org = new_org(store, name).await;
    let walkthrough = new_walkthrough(store, &org, "Intro").await;
    for title in ["a", "b", "c"] {
        store
            .add_step(&org, &walkthrough, &step(title), &StepPlacement::Last)
            .await
            .unwrap();
    }
    let version = store.publish_walkthrough(&org, &walkthrough).await.unwrap();
    let one = new_server(store, &org, &format!("{}-one", name.to_lowercase())).await;
    let two = new_server(store, &org, &format!("{}-two", name.to_lowercase())).await;
    World {
        org,
        walkthrough,
        version,
        servers: [one.id, two.id],
    }
}

/// A record: this many of the version's steps completed (all: finished `seconds` after
/// now), or not started; `extra` completed step ids of an older version.
struct Record {
    person: usize,
    server: usize,
    done: usize,
    seconds: i64,
    not_started: bool,
    extra: &'static [&'static str],
}

fn state(version: &WalkthroughVersion, record: &Record) -> ProgressState {
    let ids: Vec<String> = version.steps.iter().map(|s| s.id.clone()).collect();
    let finished = record.done >= ids.len();
    let mut completed: Vec<String> = ids[..record.done.min(ids.len())].to_vec();
    completed.extend(record.extra.iter().map(|s| (*s).to_owned()));
    ProgressState {
        version: version.version,
        current_step_id: (!finished).then(|| ids[record.done].clone()),
        completed_step_ids: completed,
        status: if record.not_started {
            ProgressStatus::NotStarted
        } else if finished {
            ProgressStatus::Completed
        } else {
            ProgressStatus::InProgress
        },
        completed_at: finished.then(|| Timestamp::now().plus_seconds(record.seconds)),
    }
}

/// Writes the records (many at once: the writes share transactions) and returns them as
/// stored.
async fn write(store: &Arc<dyn Store>, world: &World, records: &[Record]) -> Vec<Progress> {
    let people = records.iter().map(|r| r.person).max().map_or(0, |n| n + 1);
    let users = futures::future::join_all((0..people).map(|n| async move {
        let tracking_id = format!("person-{n}");
        store
            .end_user_for_tracking_id(&world.org, &tracking_id, Timestamp::now())
            .await
    }))
    .await;
    let users: Vec<EndUser> = users.into_iter().map(Result::unwrap).collect();
    let written = futures::future::join_all(records.iter().map(|record| {
        let key = ProgressKey {
            org_id: world.org.clone(),
            end_user_id: users[record.person].id.clone(),
            server_id: world.servers[record.server].clone(),
            walkthrough_id: world.walkthrough.clone(),
        };
        let state = state(&world.version, record);
        async move { store.start_progress(&key, &state).await }
    }))
    .await;
    written.into_iter().map(Result::unwrap).collect()
}

/// The funnel's counts by their definition, over the records themselves.
fn expected(records: &[Progress], server: Option<&ServerId>) -> FunnelCounts {
    let mut steps: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    let (mut started, mut finished, mut took) = (BTreeSet::new(), BTreeSet::new(), Vec::new());
    let counted = records
        .iter()
        .filter(|p| server.is_none_or(|s| p.server_id == *s));
    for record in counted.filter(|p| p.status != ProgressStatus::NotStarted) {
        let user = record.end_user_id.as_str();
        started.insert(user);
        for id in &record.completed_step_ids {
            let (reached, completed) = steps.entry(id).or_default();
            reached.insert(user);
            completed.insert(user);
        }
        if let Some(current) = &record.current_step_id {
            steps.entry(current).or_default().0.insert(user);
        }
        if record.status == ProgressStatus::Completed {
            finished.insert(user);
            if let Some(done) = record.completed_at {
                took.push((done.micros() - record.started_at.micros()).max(0));
            }
        }
    }
    took.sort_unstable();
    let middle = match took.len() {
        0 => vec![],
        n if n % 2 == 1 => vec![took[n / 2]],
        n => vec![took[n / 2 - 1], took[n / 2]],
    };
    FunnelCounts {
        steps: steps
            .into_iter()
            .map(|(id, (reached, completed))| StepCount {
                step_id: id.to_owned(),
                reached: reached.len() as u64,
                completed: completed.len() as u64,
            })
            .collect(),
        started: started.len() as u64,
        completed: finished.len() as u64,
        middle_durations: middle,
    }
}

/// The store's counts (steps by id), and that they took one statement.
async fn counted(store: &Arc<dyn Store>, world: &World, server: Option<usize>) -> FunnelCounts {
    let server = server.map(|n| &world.servers[n]);
    let before = store.statements_executed();
    let mut counts = store
        .walkthrough_funnel(&world.org, &world.walkthrough, server)
        .await
        .unwrap();
    assert_eq!(store.statements_executed() - before, 1, "one statement");
    counts.steps.sort_by(|a, b| a.step_id.cmp(&b.step_id));
    counts
}

async fn counts_distinct_people_per_step_on_every_server_or_one(db: &TestDatabase) {
    let store = common::open(db).await;
    let acme = world(&store, "Acme").await;
    let globex = world(&store, "Globex").await;
    let empty = counted(&store, &acme, None).await;
    assert_eq!(empty, FunnelCounts::default(), "nobody started");

    let record = |person, server, done, seconds| Record {
        person,
        server,
        done,
        seconds,
        not_started: false,
        extra: &[],
    };
    let records = write(
        &store,
        &acme,
        &[
            record(0, 0, 0, 0),   // at a
            record(1, 0, 1, 0),   // at b
            record(2, 0, 3, 60),  // done
            record(3, 1, 3, 180), // done, on the other server
            record(2, 1, 2, 0),   // person 2 again, at c on the other server
            Record {
                not_started: true, // not counted
                ..record(4, 1, 1, 0)
            },
            Record {
                extra: &["old"], // a step the newest version dropped
                ..record(5, 1, 1, 0)
            },
        ],
    )
    .await;
    // Another organization's progress on its own walkthrough is not counted.
    write(&store, &globex, &[record(0, 0, 3, 5)]).await;

    let ids: Vec<&str> = acme.version.steps.iter().map(|s| s.id.as_str()).collect();
    let all = counted(&store, &acme, None).await;
    assert_eq!((all.started, all.completed), (5, 2), "{all:?}");
    let by_id: BTreeMap<&str, (u64, u64)> = all
        .steps
        .iter()
        .map(|s| (s.step_id.as_str(), (s.reached, s.completed)))
        .collect();
    assert_eq!(by_id[ids[0]], (5, 4), "{all:?}");
    assert_eq!(by_id[ids[1]], (4, 2), "{all:?}");
    assert_eq!(by_id[ids[2]], (2, 2), "{all:?}");
    assert_eq!(by_id["old"], (1, 1), "{all:?}");
    assert_eq!(all.middle_durations.len(), 2, "two finished: {all:?}");
    for (n, server) in [(0, None), (1, Some(0)), (2, Some(1))] {
        let found = counted(&store, &acme, server).await;
        let wanted = expected(&records, server.map(|s| &acme.servers[s]));
        assert_eq!(found, wanted, "case {n}");
    }
    let on_one = counted(&store, &acme, Some(0)).await;
    assert_eq!((on_one.started, on_one.completed), (3, 1), "{on_one:?}");
}

async fn counts_stay_exact_and_one_statement_over_many_records(db: &TestDatabase) {
    let store = common::open(db).await;
    let acme = world(&store, "Acme").await;
    const PEOPLE: usize = 700;
    let mut records = Vec::new();
    for person in 0..PEOPLE {
        records.push(Record {
            person,
            server: usize::from(person % 3 == 0),
            done: person % 4,
            seconds: (person % 97) as i64,
            not_started: person % 11 == 0,
            extra: if person % 13 == 0 { &["old"] } else { &[] },
        });
        // Some progress on both servers, further on the other.
        if person % 7 == 0 {
            records.push(Record {
                person,
                server: usize::from(person % 3 != 0),
                done: (person % 4 + 1).min(3),
                seconds: (person % 89) as i64,
                not_started: false,
                extra: &[],
            });
        }
    }
    let stored = write(&store, &acme, &records).await;
    assert_eq!(stored.len(), records.len());
    for server in [None, Some(0), Some(1)] {
        let found = counted(&store, &acme, server).await;
        let wanted = expected(&stored, server.map(|s| &acme.servers[s]));
        assert_eq!(found, wanted, "server {server:?}");
        assert!(found.started > 100, "{found:?}");
    }
}

backend_tests!(
    counts_distinct_people_per_step_on_every_server_or_one,
    counts_stay_exact_and_one_statement_over_many_records,
);
