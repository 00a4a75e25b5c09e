//! People behind the authorization server, on every backend: one end user per verified
//! email and organization, and de-anonymization (linking a tracking id to a verified
//! person) moves progress with the more advanced one winning.

mod common;

use guidepost_domain::*;
use guidepost_store::ProgressKey;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{OAuthWorld, assert_not_found, email, new_walkthrough, oauth_world};

async fn one_end_user_per_verified_email(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let first = w
        .store
        .end_user_for_verified_email(&w.org, &email("Ada@Example.com"), Timestamp::now())
        .await
        .unwrap();
    let again = w
        .store
        .end_user_for_verified_email(&w.org, &email("ada@example.com"), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(first.id, again.id);
    assert!(first.email_verified);
    let elsewhere = w
        .store
        .end_user_for_verified_email(&w.other_org, &email("ada@example.com"), Timestamp::now())
        .await
        .unwrap();
    assert_ne!(elsewhere.id, first.id, "people are per organization");
    // Someone claiming the address without proof is a different end user.
    let claimant = w
        .store
        .end_user_for_tracking_id(&w.org, "t1", Timestamp::now())
        .await
        .unwrap();
    let claimed = w
        .store
        .set_end_user_email(&w.org, &claimant.id, &email("ada@example.com"), false)
        .await
        .unwrap();
    assert!(!claimed.email_verified);
    let still = w
        .store
        .end_user_for_verified_email(&w.org, &email("ada@example.com"), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(still.id, first.id);
}

/// A published walkthrough of `steps` steps assigned to the world's server.
async fn walkthrough(w: &OAuthWorld, title: &str, steps: usize) -> WalkthroughVersion {
    let id = new_walkthrough(&w.store, &w.org, title).await;
    for n in 0..steps {
        let step = StepFields {
            title: format!("s{n}"),
            section_title: None,
            content: "c".into(),
        };
        w.store
            .add_step(&w.org, &id, &step, &StepPlacement::Last)
            .await
            .unwrap();
    }
    w.store
        .assign_walkthrough(&w.org, &w.server, &id, None, Some(true))
        .await
        .unwrap();
    w.store.publish_walkthrough(&w.org, &id).await.unwrap()
}

/// Progress of `user` that has completed `done` steps of `version`.
async fn progress_of(
    w: &OAuthWorld,
    user: &EndUserId,
    version: &WalkthroughVersion,
    done: usize,
) -> Progress {
    let key = ProgressKey {
        org_id: w.org.clone(),
        end_user_id: user.clone(),
        server_id: w.server.clone(),
        walkthrough_id: version.walkthrough_id.clone(),
    };
    let mut progress = w
        .store
        .start_progress(&key, &ProgressState::start(version))
        .await
        .unwrap();
    for _ in 0..done {
        let Advance::Moved { state, .. } = advance(version, &ProgressState::of(&progress), None)
        else {
            panic!("advances");
        };
        progress = w
            .store
            .update_progress(&w.org, &progress.id, progress.revision, &state)
            .await
            .unwrap()
            .unwrap();
    }
    progress
}

async fn linking_moves_progress_and_the_more_advanced_wins(db: &TestDatabase) {
    let w = oauth_world(db).await;
    let (only_anon, anon_ahead, person_ahead) = (
        walkthrough(&w, "A", 3).await,
        walkthrough(&w, "B", 3).await,
        walkthrough(&w, "C", 3).await,
    );
    let anon = w
        .store
        .end_user_for_tracking_id(&w.org, "laptop", Timestamp::now())
        .await
        .unwrap();
    let person = w
        .store
        .end_user_for_verified_email(&w.org, &email("ada@example.com"), Timestamp::now())
        .await
        .unwrap();
    progress_of(&w, &anon.id, &only_anon, 1).await;
    progress_of(&w, &anon.id, &anon_ahead, 2).await;
    progress_of(&w, &person.id, &anon_ahead, 1).await;
    progress_of(&w, &anon.id, &person_ahead, 0).await;
    progress_of(&w, &person.id, &person_ahead, 2).await;
    let session = NewSession {
        transport_id: "transport-1".into(),
        org_id: w.org.clone(),
        server_id: w.server.clone(),
        end_user_id: Some(anon.id.clone()),
        client_name: None,
        client_version: None,
        protocol_version: None,
        transport_state: "{}".into(),
        client_prefix: None,
    };
    w.store
        .create_session(&session, Timestamp::now())
        .await
        .unwrap();

    let outcome = w
        .store
        .link_end_users(&w.org, &anon.id, &person.id, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        outcome,
        LinkOutcome {
            linked: true,
            moved: 1,
            merged: 2
        }
    );
    let mine = w
        .store
        .list_progress(&w.org, &person.id, &w.server)
        .await
        .unwrap();
    let done_of = |v: &WalkthroughVersion| {
        mine.iter()
            .find(|p| p.walkthrough_id == v.walkthrough_id)
            .map(|p| p.completed_step_ids.len())
    };
    assert_eq!(done_of(&only_anon), Some(1), "moved");
    assert_eq!(
        done_of(&anon_ahead),
        Some(2),
        "the anonymous progress was further"
    );
    assert_eq!(
        done_of(&person_ahead),
        Some(2),
        "the person's own progress was further"
    );
    assert!(
        w.store
            .list_progress(&w.org, &anon.id, &w.server)
            .await
            .unwrap()
            .is_empty()
    );
    let linked = w.store.get_end_user(&w.org, &anon.id).await.unwrap();
    assert_eq!(
        linked.linked_end_user_id,
        Some(person.id.clone()),
        "the link is recorded"
    );
    let moved_session = w.store.find_session("transport-1").await.unwrap().unwrap();
    assert_eq!(moved_session.end_user_id, Some(person.id.clone()));

    let again = w
        .store
        .link_end_users(&w.org, &anon.id, &person.id, Timestamp::now())
        .await
        .unwrap();
    assert!(!again.linked, "linking twice does nothing");
    let verified = w
        .store
        .link_end_users(&w.org, &person.id, &anon.id, Timestamp::now())
        .await
        .unwrap();
    assert!(!verified.linked, "a verified person is never merged away");
    let stranger = w
        .store
        .end_user_for_verified_email(&w.other_org, &email("eve@example.com"), Timestamp::now())
        .await
        .unwrap();
    let fresh = w
        .store
        .end_user_for_tracking_id(&w.org, "desk", Timestamp::now())
        .await
        .unwrap();
    assert_not_found(
        w.store
            .link_end_users(&w.org, &fresh.id, &stranger.id, Timestamp::now())
            .await,
        "never across organizations",
    );
}

backend_tests!(
    one_end_user_per_verified_email,
    linking_moves_progress_and_the_more_advanced_wins,
);
