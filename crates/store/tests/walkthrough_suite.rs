//! The walkthrough half of the store, on every backend: the draft step list stays whole
//! through every write, versions are immutable snapshots, assignments stay inside one
//! organization, and progress writes are conditional.

mod common;

use std::sync::Arc;

use guidepost_domain::*;
use guidepost_store::{ProgressKey, Store, StoreError};
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{
    assert_not_found, new_org, new_server, new_walkthrough, open,
    people_at_a_published_walkthrough, step,
};

async fn titles(store: &Arc<dyn Store>, org: &OrgId, w: &WalkthroughId) -> Vec<String> {
    store
        .list_steps(org, w)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.title)
        .collect()
}

async fn setup(store: &Arc<dyn Store>) -> (OrgId, WalkthroughId) {
    let org = new_org(store, "Acme").await;
    let w = new_walkthrough(store, &org, "Intro").await;
    (org, w)
}

async fn step_list_stays_whole(db: &TestDatabase) {
    let store = open(db).await;
    let (org, w) = setup(&store).await;
    let mut ids = Vec::new();
    for title in ["a", "b", "c"] {
        ids.push(
            store
                .add_step(&org, &w, &step(title), &StepPlacement::Last)
                .await
                .unwrap()
                .id,
        );
    }
    assert_eq!(titles(&store, &org, &w).await, ["a", "b", "c"]);
    store
        .add_step(&org, &w, &step("a2"), &StepPlacement::After(ids[0].clone()))
        .await
        .unwrap();
    assert_eq!(titles(&store, &org, &w).await, ["a", "a2", "b", "c"]);
    store
        .update_step(
            &org,
            &w,
            &ids[2],
            &StepChanges::default(),
            Some(&StepPlacement::First),
        )
        .await
        .unwrap();
    assert_eq!(titles(&store, &org, &w).await, ["c", "a", "a2", "b"]);
    store.delete_step(&org, &w, &ids[0]).await.unwrap();
    assert_eq!(titles(&store, &org, &w).await, ["c", "a2", "b"]);
    store
        .update_step(
            &org,
            &w,
            &ids[1],
            &step("B").into(),
            Some(&StepPlacement::Last),
        )
        .await
        .unwrap();
    assert_eq!(titles(&store, &org, &w).await, ["c", "a2", "B"]);
    let listed = store.list_steps(&org, &w).await.unwrap();
    assert_eq!(
        listed.last().unwrap().next_step_id,
        None,
        "the tail points nowhere"
    );
    assert_eq!(
        store.get_walkthrough(&org, &w).await.unwrap().first_step_id,
        Some(ids[2].clone())
    );
}

async fn step_writes_refuse_what_would_break_the_list(db: &TestDatabase) {
    let store = open(db).await;
    let (org, w) = setup(&store).await;
    let other = new_walkthrough(&store, &org, "Other").await;
    let a = store
        .add_step(&org, &w, &step("a"), &StepPlacement::Last)
        .await
        .unwrap()
        .id;
    let foreign = store
        .add_step(&org, &other, &step("x"), &StepPlacement::Last)
        .await
        .unwrap()
        .id;
    let after_self = store
        .update_step(
            &org,
            &w,
            &a,
            &StepChanges::default(),
            Some(&StepPlacement::After(a.clone())),
        )
        .await;
    assert!(
        matches!(
            after_self,
            Err(StoreError::Rejected {
                field: "after_step_id",
                ..
            })
        ),
        "{after_self:?}"
    );
    let across = store
        .add_step(&org, &w, &step("b"), &StepPlacement::After(foreign.clone()))
        .await;
    assert!(
        matches!(
            across,
            Err(StoreError::Rejected {
                field: "after_step_id",
                ..
            })
        ),
        "{across:?}"
    );
    assert_not_found(
        store.delete_step(&org, &w, &foreign).await,
        "a step of another walkthrough is not deleted",
    );
    assert_eq!(
        titles(&store, &org, &w).await,
        ["a"],
        "refused writes changed nothing"
    );
    assert_eq!(titles(&store, &org, &other).await, ["x"]);
    let stranger = new_org(&store, "Stranger").await;
    assert_not_found(
        store
            .add_step(&stranger, &w, &step("s"), &StepPlacement::Last)
            .await,
        "another organization adds no step",
    );
    assert!(store.list_steps(&stranger, &w).await.unwrap().is_empty());
}

async fn versions_are_immutable_snapshots(db: &TestDatabase) {
    let store = open(db).await;
    let (org, w) = setup(&store).await;
    let empty = store.publish_walkthrough(&org, &w).await;
    assert!(matches!(
        empty,
        Err(StoreError::Rejected { field: "steps", .. })
    ));
    let a = store
        .add_step(&org, &w, &step("a"), &StepPlacement::Last)
        .await
        .unwrap()
        .id;
    store
        .add_step(&org, &w, &step("b"), &StepPlacement::Last)
        .await
        .unwrap();
    let v1 = store.publish_walkthrough(&org, &w).await.unwrap();
    assert_eq!(v1.version, 1);
    store
        .update_step(
            &org,
            &w,
            &a,
            &step("a edited").into(),
            Some(&StepPlacement::Last),
        )
        .await
        .unwrap();
    let v2 = store.publish_walkthrough(&org, &w).await.unwrap();
    assert_eq!(v2.version, 2);
    let again = store.get_version(&org, &w, 1).await.unwrap();
    assert_eq!(
        again
            .steps
            .iter()
            .map(|s| s.title.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        v2.steps
            .iter()
            .map(|s| s.title.as_str())
            .collect::<Vec<_>>(),
        ["b", "a edited"]
    );
    assert_eq!(
        v2.steps[1].id,
        a.to_string(),
        "step ids are stable across versions"
    );
    let walkthrough = store.get_walkthrough(&org, &w).await.unwrap();
    assert_eq!(
        (walkthrough.status, walkthrough.published_version),
        (WalkthroughStatus::Published, Some(2))
    );
}

async fn assignments_and_progress(db: &TestDatabase) {
    let store = open(db).await;
    let (org, w) = setup(&store).await;
    store
        .add_step(&org, &w, &step("a"), &StepPlacement::Last)
        .await
        .unwrap();
    store
        .add_step(&org, &w, &step("b"), &StepPlacement::Last)
        .await
        .unwrap();
    let version = store.publish_walkthrough(&org, &w).await.unwrap();
    let server = new_server(&store, &org, "acme").await.id;
    let other_org = new_org(&store, "Beta").await;
    let foreign_server = new_server(&store, &other_org, "beta").await.id;
    assert_not_found(
        store
            .assign_walkthrough(&org, &foreign_server, &w, None, None)
            .await,
        "a server of another organization is not assigned",
    );
    assert_not_found(
        store
            .assign_walkthrough(&other_org, &foreign_server, &w, None, None)
            .await,
        "another organization assigns nothing",
    );
    assert!(
        !store
            .has_available_walkthroughs(&org, &server)
            .await
            .unwrap()
    );
    store
        .assign_walkthrough(&org, &server, &w, Some(3), None)
        .await
        .unwrap();
    assert!(
        store
            .has_available_walkthroughs(&org, &server)
            .await
            .unwrap()
    );
    let disabled = store
        .assign_walkthrough(&org, &server, &w, None, Some(false))
        .await
        .unwrap();
    assert_eq!(
        (disabled.display_order, disabled.is_enabled),
        (3, false),
        "an update keeps what it does not name"
    );
    assert!(
        store
            .available_walkthroughs(&org, &server)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .assign_walkthrough(&org, &server, &w, None, Some(true))
        .await
        .unwrap();

    let user = store
        .end_user_for_tracking_id(&org, "t1", Timestamp::now())
        .await
        .unwrap();
    let key = ProgressKey {
        org_id: org.clone(),
        end_user_id: user.id,
        server_id: server,
        walkthrough_id: w,
    };
    let start = ProgressState::start(&version);
    let first = store.start_progress(&key, &start).await.unwrap();
    let second = store.start_progress(&key, &start).await.unwrap();
    assert_eq!(
        first.id, second.id,
        "starting twice keeps the first progress"
    );
    let Advance::Moved { state, .. } = advance(&version, &ProgressState::of(&first), None) else {
        panic!("moves")
    };
    let moved = store
        .update_progress(&org, &first.id, first.revision, &state)
        .await
        .unwrap()
        .expect("written");
    assert_eq!(moved.completed_step_ids.len(), 1);
    let stale = store
        .update_progress(&org, &first.id, first.revision, &state)
        .await
        .unwrap();
    assert!(stale.is_none(), "a write on an old revision is refused");
    let restarted = store.restart_progress(&key, &start).await.unwrap();
    assert_eq!(
        (restarted.id, restarted.completed_step_ids.len()),
        (first.id, 0)
    );
    assert!(store.delete_progress(&key).await.unwrap());
    assert!(store.get_progress(&key).await.unwrap().is_none());
}

/// Progress writes made at once (the group commit batches them under load) each keep
/// their own meaning: every start and advance lands on its own row, one write of a row
/// at a stale revision is refused while another wins, and a write that fails (an end
/// user that does not exist) fails alone.
async fn concurrent_progress_writes_each_keep_their_meaning(db: &TestDatabase) {
    let store = open(db).await;
    let (keys, version) = people_at_a_published_walkthrough(&store, &["a", "b", "c"], 24).await;
    let org = keys[0].org_id.clone();
    let nobody = ProgressKey {
        end_user_id: EndUserId::generate(),
        ..keys[0].clone()
    };
    let start = ProgressState::start(&version);
    let starts = keys
        .iter()
        .chain([&nobody])
        .map(|key| store.restart_progress(key, &start));
    let mut started = futures::future::join_all(starts).await;
    assert!(
        started.pop().unwrap().is_err(),
        "a start for an end user that does not exist fails"
    );
    let started: Vec<Progress> = started.into_iter().map(Result::unwrap).collect();
    for (progress, key) in started.iter().zip(&keys) {
        assert_eq!(
            progress.end_user_id, key.end_user_id,
            "each start writes its own row"
        );
    }

    let Advance::Moved { state, .. } = advance(&version, &start, None) else {
        panic!("moves")
    };
    // Every row once, and the first row eight more times at the revision it was read at.
    let writes = started
        .iter()
        .chain(std::iter::repeat_n(&started[0], 8))
        .map(|p| store.update_progress(&org, &p.id, p.revision, &state));
    let statements_before = store.statements_executed();
    let written = futures::future::join_all(writes).await;
    let statements = store.statements_executed() - statements_before;
    let written: Vec<Option<Progress>> = written.into_iter().map(Result::unwrap).collect();
    for (written, read) in written[1..24].iter().zip(&started[1..24]) {
        let written = written.as_ref().expect("distinct rows all move");
        assert_eq!(
            (
                &written.id,
                written.revision,
                written.completed_step_ids.len()
            ),
            (&read.id, read.revision + 1, 1),
            "each write answers with its own row, moved on once"
        );
    }
    // The first write commits alone while the other 31 queue behind it; those go as one
    // transaction of few statements (advances of distinct rows together, the first row's
    // repeats apart), not as one statement per write (34 then).
    assert!(
        statements <= 16,
        "32 progress writes ran {statements} statements"
    );
    let first_row_wins = written[..1]
        .iter()
        .chain(&written[24..])
        .filter(|w| w.is_some())
        .count();
    assert_eq!(
        first_row_wins, 1,
        "one write of a revision wins, the others are refused"
    );
    for key in &keys {
        let stored = store.get_progress(key).await.unwrap().unwrap();
        assert_eq!(
            stored.completed_step_ids.len(),
            1,
            "each row moved exactly once"
        );
    }
    let deletes = keys.iter().map(|key| store.delete_progress(key));
    let deleted = futures::future::join_all(deletes).await;
    assert!(
        deleted.into_iter().all(|d| d.unwrap()),
        "each delete finds its row"
    );
}

/// An update writes the fields it names and nothing else, so that two editors changing
/// different fields of one step at once both keep their change.
async fn an_update_changes_only_the_fields_it_names(db: &TestDatabase) {
    let store = open(db).await;
    let (org, w) = setup(&store).await;
    let fields = StepFields {
        title: "Install".into(),
        section_title: Some("Setup".into()),
        content: "Run the installer.".into(),
    };
    let id = store
        .add_step(&org, &w, &fields, &StepPlacement::Last)
        .await
        .unwrap()
        .id;
    let renamed = StepChanges {
        title: Some("Install it".into()),
        ..Default::default()
    };
    let rewritten = StepChanges {
        content: Some("Run `setup`.".into()),
        ..Default::default()
    };
    // Both at once: neither writes back what it did not name.
    let (a, b) = tokio::join!(
        store.update_step(&org, &w, &id, &renamed, None),
        store.update_step(&org, &w, &id, &rewritten, None),
    );
    a.unwrap();
    b.unwrap();
    let stored = &store.list_steps(&org, &w).await.unwrap()[0];
    assert_eq!(
        (stored.title.as_str(), stored.content.as_str()),
        ("Install it", "Run `setup`.")
    );
    assert_eq!(stored.section_title.as_deref(), Some("Setup"), "not named");
    let cleared = StepChanges {
        section_title: Some(None),
        ..Default::default()
    };
    let stored = store
        .update_step(&org, &w, &id, &cleared, None)
        .await
        .unwrap();
    assert_eq!(stored.section_title, None, "Some(None) clears it");
    assert_eq!(stored.title, "Install it");
}

backend_tests!(
    step_list_stays_whole,
    an_update_changes_only_the_fields_it_names,
    step_writes_refuse_what_would_break_the_list,
    versions_are_immutable_snapshots,
    assignments_and_progress,
    concurrent_progress_writes_each_keep_their_meaning,
);
