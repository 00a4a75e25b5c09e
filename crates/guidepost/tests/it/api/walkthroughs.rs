//! Walkthroughs through the API: ordered draft steps, versions, assignments and tenancy.
//! The funnel report is in `funnel.rs`.

use axum::http::{Method, StatusCode, header};
use guidepost_domain::WalkthroughId;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::{Value, json};

use crate::api::helpers::{ApiApp, Tenant, spawn_app};

pub(super) async fn create_walkthrough(app: &ApiApp, tenant: &Tenant, title: &str) -> String {
    let reply = app
        .post(tenant, "/api/v1/walkthroughs", json!({"title": title}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

/// Adds a step titled `title` (content `"{title} body"`), after `after` if given.
pub(super) async fn add_step(
    app: &ApiApp,
    tenant: &Tenant,
    walkthrough: &str,
    title: &str,
    after: Option<&str>,
) -> String {
    let mut body = json!({"title": title, "content": format!("{title} body")});
    if let Some(after) = after {
        body["after_step_id"] = json!(after);
    }
    let reply = app
        .post(
            tenant,
            &format!("/api/v1/walkthroughs/{walkthrough}/steps"),
            body,
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["title"], title);
    assert_eq!(reply.body["walkthrough_id"], walkthrough);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ws_"), "{id}");
    id
}

/// The draft step titles as `GET /walkthroughs/{id}` returns them, after checking that
/// `first_step_id` and every `next_step_id` agree with that order.
async fn titles(app: &ApiApp, tenant: &Tenant, walkthrough: &str) -> Vec<String> {
    let reply = app
        .get(tenant, &format!("/api/v1/walkthroughs/{walkthrough}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let steps = reply.body["steps"].as_array().unwrap();
    let ids: Vec<&Value> = steps.iter().map(|s| &s["id"]).collect();
    assert_eq!(
        reply.body["first_step_id"],
        ids.first().copied().cloned().unwrap_or(Value::Null),
        "{}",
        reply.body
    );
    for (i, step) in steps.iter().enumerate() {
        let expected_next = ids.get(i + 1).copied().cloned().unwrap_or(Value::Null);
        assert_eq!(step["next_step_id"], expected_next, "{}", reply.body);
        let title = step["title"].as_str().unwrap();
        assert_eq!(step["content"], format!("{title} body"), "{}", reply.body);
    }
    steps
        .iter()
        .map(|s| s["title"].as_str().unwrap().to_owned())
        .collect()
}

fn step_path(walkthrough: &str, step: &str) -> String {
    format!("/api/v1/walkthroughs/{walkthrough}/steps/{step}")
}

async fn steps_keep_their_order_through_inserts_moves_and_deletes(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;

    let created = app
        .post(
            &acme,
            "/api/v1/walkthroughs",
            json!({"title": "Getting started", "description": "The basics", "tags": ["intro"],
                   "estimated_duration_minutes": 5}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let wt = created.body["id"].as_str().unwrap().to_owned();
    assert!(wt.starts_with("wt_"), "{wt}");
    assert_eq!(
        created.headers[header::LOCATION],
        format!("/api/v1/walkthroughs/{wt}").as_str()
    );
    assert_eq!(created.body["org_id"], acme.org.as_str());
    assert_eq!(created.body["status"], "draft");
    assert_eq!(created.body["tags"], json!(["intro"]));
    assert_eq!(created.body["estimated_duration_minutes"], 5);
    assert!(created.body["published_version"].is_null());
    assert!(created.body["first_step_id"].is_null());
    assert_eq!(titles(&app, &acme, &wt).await, Vec::<String>::new());

    let a = add_step(&app, &acme, &wt, "A", None).await;
    let b = add_step(&app, &acme, &wt, "B", None).await;
    let c = add_step(&app, &acme, &wt, "C", None).await;
    assert_eq!(titles(&app, &acme, &wt).await, ["A", "B", "C"]);

    let d = add_step(&app, &acme, &wt, "D", Some(&a)).await;
    assert_eq!(titles(&app, &acme, &wt).await, ["A", "D", "B", "C"]);

    let moved = app
        .patch(&acme, &step_path(&wt, &c), json!({"after_step_id": null}))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(moved.body["id"], c.as_str());
    assert_eq!(moved.body["next_step_id"], a.as_str());
    assert_eq!(titles(&app, &acme, &wt).await, ["C", "A", "D", "B"]);

    let deleted = app.delete(&acme, &step_path(&wt, &a)).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(titles(&app, &acme, &wt).await, ["C", "D", "B"]);
    app.delete(&acme, &step_path(&wt, &a)).await.problem(404);

    let moved = app
        .patch(&acme, &step_path(&wt, &c), json!({"after_step_id": b}))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert!(moved.body["next_step_id"].is_null(), "{}", moved.body);
    assert_eq!(titles(&app, &acme, &wt).await, ["D", "B", "C"]);

    // Editing without `after_step_id` leaves the step where it is.
    let edited = app
        .patch(
            &acme,
            &step_path(&wt, &d),
            json!({"title": "E", "content": "E body", "section_title": "Setup"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    assert_eq!(edited.body["section_title"], "Setup");
    assert_eq!(titles(&app, &acme, &wt).await, ["E", "B", "C"]);
    let read = app.get(&acme, &format!("/api/v1/walkthroughs/{wt}")).await;
    assert_eq!(read.body["steps"][0]["section_title"], "Setup");
    assert!(read.body["steps"][1]["section_title"].is_null());
    assert_eq!(read.body["title"], "Getting started");
    assert_eq!(read.body["description"], "The basics");
}

async fn walkthroughs_are_listed_updated_and_deleted(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let first = create_walkthrough(&app, &acme, "First").await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let second = create_walkthrough(&app, &acme, "Second").await;

    let page = app.get(&acme, "/api/v1/walkthroughs?limit=1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body["items"][0]["id"], second.as_str(), "newest first");
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let rest = app
        .get(
            &acme,
            &format!("/api/v1/walkthroughs?limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(rest.body["items"][0]["id"], first.as_str());
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert!(rest.body["next_cursor"].is_null());

    let path = format!("/api/v1/walkthroughs/{first}");
    let patched = app
        .patch(
            &acme,
            &path,
            json!({"title": "Renamed", "description": "New", "estimated_duration_minutes": 7}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["title"], "Renamed");
    let cleared = app.patch(&acme, &path, json!({"description": null})).await;
    assert!(cleared.body["description"].is_null(), "{}", cleared.body);
    assert_eq!(
        cleared.body["estimated_duration_minutes"], 7,
        "absent fields stay"
    );
    let bad = app
        .patch(&acme, &path, json!({"estimated_duration_minutes": 0}))
        .await;
    bad.problem(422);
    assert_eq!(bad.error_fields(), ["estimated_duration_minutes"]);
    let never_published = app
        .patch(&acme, &path, json!({"status": "published"}))
        .await;
    never_published.problem(422);
    assert_eq!(never_published.error_fields(), ["status"]);
    assert_eq!(app.get(&acme, &path).await.body["status"], "draft");

    let deleted = app.delete(&acme, &path).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&acme, &path).await.problem(404);
    app.delete(&acme, &path).await.problem(404);
    let listed = app.get(&acme, "/api/v1/walkthroughs").await;
    let ids: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str()]);
}

async fn publishing_freezes_numbered_versions(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let wt = create_walkthrough(&app, &acme, "Tour").await;
    let publish = format!("/api/v1/walkthroughs/{wt}/publish");

    let empty = app.post(&acme, &publish, json!({})).await;
    empty.problem(422);
    assert_eq!(empty.error_fields(), ["steps"]);
    let read = app.get(&acme, &format!("/api/v1/walkthroughs/{wt}")).await;
    assert_eq!(read.body["status"], "draft");
    assert!(read.body["published_version"].is_null());

    let a = add_step(&app, &acme, &wt, "A", None).await;
    add_step(&app, &acme, &wt, "B", None).await;
    let v1 = app
        .call(Method::POST, &publish, Some(&acme.key), None)
        .await;
    assert_eq!(v1.status, StatusCode::CREATED, "{}", v1.body);
    assert_eq!(v1.body["version"], 1);
    assert_eq!(v1.body["step_count"], 2);
    assert_eq!(v1.body["walkthrough_id"], wt.as_str());
    assert!(v1.body["published_at"].is_string());
    let read = app.get(&acme, &format!("/api/v1/walkthroughs/{wt}")).await;
    assert_eq!(read.body["status"], "published");
    assert_eq!(read.body["published_version"], 1);

    // Edit the draft: version 1 does not change.
    let edited = app
        .patch(
            &acme,
            &step_path(&wt, &a),
            json!({"title": "A2", "content": "A2 body"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    add_step(&app, &acme, &wt, "C", None).await;
    let id = WalkthroughId::parse(&wt).unwrap();
    let frozen = app.store().get_version(&acme.org, &id, 1).await.unwrap();
    let frozen_titles: Vec<&str> = frozen.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(frozen_titles, ["A", "B"]);

    let v2 = app.post(&acme, &publish, json!({})).await;
    assert_eq!(v2.status, StatusCode::CREATED, "{}", v2.body);
    assert_eq!(v2.body["version"], 2);
    assert_eq!(v2.body["step_count"], 3);
    let newest = app.store().get_version(&acme.org, &id, 2).await.unwrap();
    let newest_titles: Vec<&str> = newest.steps.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(newest_titles, ["A2", "B", "C"]);
    assert_eq!(newest.steps[0].id, a, "step ids are stable across versions");
    assert_eq!(
        app.get(&acme, &format!("/api/v1/walkthroughs/{wt}"))
            .await
            .body["published_version"],
        2
    );
}

async fn assignments_are_made_updated_listed_and_removed(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let server = app.create_server(&acme, "acme").await;
    let server = server["id"].as_str().unwrap().to_owned();
    let first = create_walkthrough(&app, &acme, "First").await;
    let second = create_walkthrough(&app, &acme, "Second").await;
    let assignments = format!("/api/v1/servers/{server}/walkthroughs");

    let listed = app.get(&acme, &assignments).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"], json!([]));

    let made = app
        .call(
            Method::PUT,
            &format!("{assignments}/{first}"),
            Some(&acme.key),
            Some(json!({})),
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    assert_eq!(made.body["server_id"], server.as_str());
    assert_eq!(made.body["walkthrough_id"], first.as_str());
    assert_eq!(made.body["display_order"], 0);
    assert_eq!(made.body["is_enabled"], true);

    let second_made = app
        .call(
            Method::PUT,
            &format!("{assignments}/{second}"),
            Some(&acme.key),
            Some(json!({"display_order": 5, "is_enabled": false})),
        )
        .await;
    assert_eq!(second_made.body["display_order"], 5, "{}", second_made.body);
    assert_eq!(second_made.body["is_enabled"], false);

    let order = |reply: &crate::api::helpers::Reply| -> Vec<(String, i64, bool)> {
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["walkthrough_id"].as_str().unwrap().to_owned(),
                    a["display_order"].as_i64().unwrap(),
                    a["is_enabled"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let listed = app.get(&acme, &assignments).await;
    assert_eq!(
        order(&listed),
        [(first.clone(), 0, true), (second.clone(), 5, false)]
    );

    // Updating keeps what is left out.
    let updated = app
        .call(
            Method::PUT,
            &format!("{assignments}/{first}"),
            Some(&acme.key),
            Some(json!({"display_order": 10})),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["display_order"], 10);
    assert_eq!(updated.body["is_enabled"], true);
    let listed = app.get(&acme, &assignments).await;
    assert_eq!(
        order(&listed),
        [(second.clone(), 5, false), (first.clone(), 10, true)]
    );

    let invalid = app
        .call(
            Method::PUT,
            &format!("{assignments}/{first}"),
            Some(&acme.key),
            Some(json!({"display_order": "first"})),
        )
        .await;
    invalid.problem(422);
    assert_eq!(invalid.error_fields(), ["display_order"]);

    let removed = app.delete(&acme, &format!("{assignments}/{first}")).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(
        order(&app.get(&acme, &assignments).await),
        [(second.clone(), 5, false)]
    );
    app.delete(&acme, &format!("{assignments}/{first}"))
        .await
        .problem(404);

    let unknown = app
        .call(
            Method::PUT,
            &format!("{assignments}/wt_00000000000000000000"),
            Some(&acme.key),
            Some(json!({})),
        )
        .await;
    unknown.problem(404);
}

async fn walkthroughs_and_servers_of_different_organizations_cannot_be_paired(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    let acme_server = app.create_server(&acme, "acme").await;
    let acme_server = acme_server["id"].as_str().unwrap().to_owned();
    let globex_server = app.create_server(&globex, "globex").await;
    let globex_server = globex_server["id"].as_str().unwrap().to_owned();
    let acme_wt = create_walkthrough(&app, &acme, "Acme tour").await;
    let globex_wt = create_walkthrough(&app, &globex, "Globex tour").await;

    for (tenant, server, wt) in [
        (&acme, &acme_server, &globex_wt),
        (&globex, &acme_server, &globex_wt),
        (&acme, &globex_server, &acme_wt),
        (&globex, &globex_server, &acme_wt),
    ] {
        let path = format!("/api/v1/servers/{server}/walkthroughs/{wt}");
        app.call(Method::PUT, &path, Some(&tenant.key), Some(json!({})))
            .await
            .problem(404);
        app.delete(tenant, &path).await.problem(404);
    }
    app.get(
        &globex,
        &format!("/api/v1/servers/{acme_server}/walkthroughs"),
    )
    .await
    .problem(404);

    // Nothing was assigned on either side.
    for (tenant, server) in [(&acme, &acme_server), (&globex, &globex_server)] {
        let listed = app
            .get(tenant, &format!("/api/v1/servers/{server}/walkthroughs"))
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body["items"], json!([]));
    }
    // The same pairing within one organization works, so the 404s above are the rule.
    let own = app
        .call(
            Method::PUT,
            &format!("/api/v1/servers/{acme_server}/walkthroughs/{acme_wt}"),
            Some(&acme.key),
            Some(json!({})),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.body);
}

async fn a_step_of_another_walkthrough_is_refused_as_after_step_id(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let one = create_walkthrough(&app, &acme, "One").await;
    let two = create_walkthrough(&app, &acme, "Two").await;
    let s1 = add_step(&app, &acme, &one, "S1", None).await;
    let s2 = add_step(&app, &acme, &two, "S2", None).await;

    let inserted = app
        .post(
            &acme,
            &format!("/api/v1/walkthroughs/{two}/steps"),
            json!({"title": "X", "content": "X body", "after_step_id": s1}),
        )
        .await;
    inserted.problem(422);
    assert_eq!(inserted.error_fields(), ["after_step_id"]);

    let moved = app
        .patch(&acme, &step_path(&two, &s2), json!({"after_step_id": s1}))
        .await;
    moved.problem(422);
    assert_eq!(moved.error_fields(), ["after_step_id"]);

    let malformed = app
        .post(
            &acme,
            &format!("/api/v1/walkthroughs/{two}/steps"),
            json!({"title": "X", "content": "X body", "after_step_id": "not-a-step"}),
        )
        .await;
    malformed.problem(422);
    assert_eq!(malformed.error_fields(), ["after_step_id"]);

    // A step named under the wrong walkthrough is not found there.
    app.patch(&acme, &step_path(&one, &s2), json!({"title": "Y"}))
        .await
        .problem(404);
    app.patch(&acme, &step_path(&one, &s2), json!({"after_step_id": null}))
        .await
        .problem(404);
    app.delete(&acme, &step_path(&one, &s2)).await.problem(404);

    assert_eq!(titles(&app, &acme, &one).await, ["S1"]);
    assert_eq!(titles(&app, &acme, &two).await, ["S2"]);
}

async fn a_step_cannot_move_after_itself(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let wt = create_walkthrough(&app, &acme, "Tour").await;
    add_step(&app, &acme, &wt, "A", None).await;
    let b = add_step(&app, &acme, &wt, "B", None).await;
    add_step(&app, &acme, &wt, "C", None).await;

    let refused = app
        .patch(
            &acme,
            &step_path(&wt, &b),
            json!({"title": "Renamed", "content": "Renamed body", "after_step_id": b}),
        )
        .await;
    refused.problem(422);
    assert_eq!(refused.error_fields(), ["after_step_id"]);
    // All or nothing: the title was not changed either.
    assert_eq!(titles(&app, &acme, &wt).await, ["A", "B", "C"]);
}

async fn another_organizations_walkthrough_is_not_found(db: &TestDatabase) {
    let app = spawn_app(db).await;
    let acme = app.tenant("Acme").await;
    let globex = app.tenant("Globex").await;
    let theirs = create_walkthrough(&app, &globex, "Globex tour").await;
    let step = add_step(&app, &globex, &theirs, "Theirs", None).await;
    let published = app
        .post(
            &globex,
            &format!("/api/v1/walkthroughs/{theirs}/publish"),
            json!({}),
        )
        .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.body);
    let path = format!("/api/v1/walkthroughs/{theirs}");

    app.get(&acme, &path).await.problem(404);
    app.patch(&acme, &path, json!({"title": "Hijacked"}))
        .await
        .problem(404);
    app.post(
        &acme,
        &format!("{path}/steps"),
        json!({"title": "Injected", "content": "x"}),
    )
    .await
    .problem(404);
    app.patch(
        &acme,
        &step_path(&theirs, &step),
        json!({"title": "Hijacked"}),
    )
    .await
    .problem(404);
    app.patch(
        &acme,
        &step_path(&theirs, &step),
        json!({"after_step_id": null}),
    )
    .await
    .problem(404);
    app.delete(&acme, &step_path(&theirs, &step))
        .await
        .problem(404);
    app.post(&acme, &format!("{path}/publish"), json!({}))
        .await
        .problem(404);
    app.get(&acme, &format!("{path}/funnel")).await.problem(404);
    app.delete(&acme, &path).await.problem(404);
    assert_eq!(
        app.get(&acme, "/api/v1/walkthroughs").await.body["items"],
        json!([])
    );

    // Untouched for its owner.
    let still = app.get(&globex, &path).await;
    assert_eq!(still.status, StatusCode::OK);
    assert_eq!(still.body["title"], "Globex tour");
    assert_eq!(still.body["published_version"], 1);
    assert_eq!(titles(&app, &globex, &theirs).await, ["Theirs"]);
    assert_eq!(
        app.get(&globex, &format!("{path}/funnel")).await.status,
        StatusCode::OK
    );
}

backend_tests!(
    steps_keep_their_order_through_inserts_moves_and_deletes,
    walkthroughs_are_listed_updated_and_deleted,
    publishing_freezes_numbered_versions,
    assignments_are_made_updated_listed_and_removed,
    walkthroughs_and_servers_of_different_organizations_cannot_be_paired,
    a_step_of_another_walkthrough_is_refused_as_after_step_id,
    a_step_cannot_move_after_itself,
    another_organizations_walkthrough_is_not_found,
);
