//! The walkthrough funnel report through the API: who reached and completed each step of
//! the published version, per server, inside the organization.

use axum::http::StatusCode;
use guidepost_domain::{
    Advance, EndUser, ProgressState, ProgressStatus, ServerId, WalkthroughId, WalkthroughVersion,
    advance,
};
use guidepost_store::ProgressKey;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::api::helpers::{ApiApp, Tenant, spawn_app};
use crate::api::walkthroughs::{add_step, create_walkthrough};

/// Starts `user`'s progress on `server` at the first step of `version` and completes
/// `steps` steps; when that finishes the walkthrough, it says it took `seconds`.
async fn progress(
    app: &ApiApp,
    tenant: &Tenant,
    user: &EndUser,
    server: &ServerId,
    version: &WalkthroughVersion,
    steps: usize,
    seconds: i64,
) {
    let key = ProgressKey {
        org_id: tenant.org.clone(),
        end_user_id: user.id.clone(),
        server_id: server.clone(),
        walkthrough_id: version.walkthrough_id.clone(),
    };
    let mut stored = app
        .store()
        .start_progress(&key, &ProgressState::start(version))
        .await
        .unwrap();
    for _ in 0..steps {
        let Advance::Moved {
            mut state,
            completed_now,
        } = advance(version, &ProgressState::of(&stored), None)
        else {
            panic!("the progress should advance")
        };
        if completed_now {
            state.completed_at = Some(stored.started_at.plus_seconds(seconds));
        }
        stored = app
            .store()
            .update_progress(&tenant.org, &stored.id, stored.revision, &state)
            .await
            .unwrap()
            .expect("no concurrent writer");
    }
    let finished = steps == version.steps.len();
    assert_eq!(stored.status == ProgressStatus::Completed, finished);
}

/// `(title, position, reached, completed, drop_off)` of each step of a funnel.
fn funnel_steps(body: &Value) -> Vec<(String, i64, i64, i64, i64)> {
    body["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in {body}"))
        .iter()
        .map(|s| {
            (
                s["title"].as_str().unwrap().to_owned(),
                s["position"].as_i64().unwrap(),
                s["reached"].as_i64().unwrap(),
                s["completed"].as_i64().unwrap(),
                s["drop_off"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn row(title: &str, position: i64, reached: i64, completed: i64) -> (String, i64, i64, i64, i64) {
    (
        title.to_owned(),
        position,
        reached,
        completed,
        reached - completed,
    )
}

async fn the_funnel_counts_who_reached_and_completed_each_step(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    let wt = create_walkthrough(&app, &acme, "Tour").await;
    let funnel = format!("/api/v1/walkthroughs/{wt}/funnel");

    let a = add_step(&app, &acme, &wt, "A", None).await;
    let b = add_step(&app, &acme, &wt, "B", None).await;
    let c = add_step(&app, &acme, &wt, "C", None).await;
    let unpublished = app.get(&acme, &funnel).await;
    let detail = unpublished.problem(409)["detail"].as_str().unwrap();
    assert!(detail.contains("publish"), "{detail}");

    let published = app
        .post(
            &acme,
            &format!("/api/v1/walkthroughs/{wt}/publish"),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    let id = WalkthroughId::parse(&wt).unwrap();
    let v1 = app.store().get_version(&acme.org, &id, 1).await.unwrap();
    let one = app.create_server(&acme, "one").await;
    let one = ServerId::parse(one["id"].as_str().unwrap()).unwrap();
    let two = app.create_server(&acme, "two").await;
    let two = ServerId::parse(two["id"].as_str().unwrap()).unwrap();

    let empty = app.get(&acme, &funnel).await;
    assert_eq!(empty.status, StatusCode::OK, "{}", empty.body);
    assert_eq!(
        funnel_steps(&empty.body),
        [row("A", 1, 0, 0), row("B", 2, 0, 0), row("C", 3, 0, 0)]
    );
    assert_eq!(
        empty.body["totals"],
        json!({"started": 0, "completed": 0, "completion_rate": 0.0,
               "median_time_to_complete_seconds": null})
    );

    let mut users = Vec::new();
    for n in 1..=5 {
        users.push(app.end_user(&acme, &format!("user-{n}")).await);
    }
    progress(&app, &acme, &users[0], &one, &v1, 0, 0).await; // at A
    progress(&app, &acme, &users[1], &one, &v1, 1, 0).await; // at B
    progress(&app, &acme, &users[2], &one, &v1, 3, 60).await; // done in 60 s
    progress(&app, &acme, &users[3], &two, &v1, 3, 180).await; // done in 180 s
    progress(&app, &acme, &users[4], &two, &v1, 2, 0).await; // at C

    let all = app.get(&acme, &funnel).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(all.body["walkthrough_id"], wt.as_str());
    assert_eq!(all.body["version"], 1);
    assert!(all.body["server_id"].is_null());
    assert_eq!(
        funnel_steps(&all.body),
        [row("A", 1, 5, 4), row("B", 2, 4, 3), row("C", 3, 3, 2)]
    );
    let ids: Vec<&str> = all.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str(), c.as_str()]);
    assert_eq!(
        all.body["totals"],
        json!({"started": 5, "completed": 2, "completion_rate": 0.4,
               "median_time_to_complete_seconds": 120.0})
    );

    let on_one = app.get(&acme, &format!("{funnel}?server_id={one}")).await;
    assert_eq!(on_one.status, StatusCode::OK, "{}", on_one.body);
    assert_eq!(on_one.body["server_id"], one.as_str());
    assert_eq!(
        funnel_steps(&on_one.body),
        [row("A", 1, 3, 2), row("B", 2, 2, 1), row("C", 3, 1, 1)]
    );
    assert_eq!(on_one.body["totals"]["started"], 3);
    assert_eq!(on_one.body["totals"]["completed"], 1);
    let rate = on_one.body["totals"]["completion_rate"].as_f64().unwrap();
    assert!((rate - 1.0 / 3.0).abs() < 1e-9, "{rate}");
    assert_eq!(
        on_one.body["totals"]["median_time_to_complete_seconds"],
        60.0
    );

    // A new version with a step inserted after A: the report follows the newest version,
    // matching the progress made on version 1 by step id.
    add_step(&app, &acme, &wt, "N", Some(&a)).await;
    let republished = app
        .post(
            &acme,
            &format!("/api/v1/walkthroughs/{wt}/publish"),
            json!({}),
        )
        .await;
    assert_eq!(republished.body["version"], 2, "{}", republished.body);
    let newest = app.get(&acme, &funnel).await;
    assert_eq!(newest.body["version"], 2);
    assert_eq!(
        funnel_steps(&newest.body),
        [
            row("A", 1, 5, 4),
            row("N", 2, 0, 0),
            row("B", 3, 4, 3),
            row("C", 4, 3, 2)
        ]
    );

    // Filters are checked: malformed is invalid, another organization's server is not found.
    let malformed = app.get(&acme, &format!("{funnel}?server_id=nope")).await;
    malformed.problem(422);
    assert_eq!(malformed.error_fields(), ["server_id"]);
    let theirs = app.create_server(&globex, "globex").await;
    app.get(
        &acme,
        &format!("{funnel}?server_id={}", theirs["id"].as_str().unwrap()),
    )
    .await
    .problem(404);
}

backend_tests!(the_funnel_counts_who_reached_and_completed_each_step);
