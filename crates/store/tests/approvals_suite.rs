//! Approvals of calls, on every backend: found by their exact binding only, decided and
//! used once, apart per organization, and deleted once expired.

mod common;

use guidepost_domain::*;
use guidepost_store::NewApproval;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{new_org, new_server, open, secs};

fn approval(org: &OrgId, server: &ServerId, digest: &str, expires: i64) -> CallApproval {
    CallApproval {
        id: ApprovalId::generate(),
        binding: ApprovalBinding {
            org_id: org.clone(),
            server_id: server.clone(),
            caller: "user:msu_1".into(),
            tool: "deploy".into(),
            arguments_digest: digest.into(),
            definition_hash: "def".into(),
            policy_version: 3,
        },
        server_id: server.clone(),
        tool: "deploy".into(),
        arguments: "{}".into(),
        caller_name: "ada@example.com".into(),
        policy: "deploys".into(),
        reason: None,
        approver: Approver::Member,
        status: ApprovalStatus::Pending,
        created_at: secs(1),
        expires_at: secs(expires),
        decided_by: None,
        decided_at: None,
    }
}

async fn an_approval_is_found_decided_used_once_and_deleted_when_expired(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let server = new_server(&store, &acme, "acme").await.id;
    let asked = approval(&acme, &server, "digest-1", 900);
    let new = NewApproval {
        approval: asked.clone(),
        token_hash: None,
    };
    store.create_approval(&new).await.unwrap();
    let found = store.find_approval(&asked.binding, secs(10)).await.unwrap();
    assert_eq!(found.as_ref().map(|a| &a.id), Some(&asked.id));
    let mut other = asked.binding.clone();
    other.arguments_digest = "digest-2".into();
    assert!(
        store
            .find_approval(&other, secs(10))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_approval(&asked.binding, secs(900))
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    // Another organization can neither read nor decide it.
    assert!(store.get_approval(&globex, &asked.id).await.is_err());
    let status = ApprovalStatus::Approved;
    let refused = store
        .decide_approval(&globex, &asked.id, status, "x", secs(10))
        .await;
    assert!(refused.unwrap().is_none());
    let decided = store
        .decide_approval(&acme, &asked.id, status, "bo", secs(10))
        .await;
    assert_eq!(
        decided.unwrap().map(|a| a.status),
        Some(ApprovalStatus::Approved)
    );
    assert!(
        store
            .decide_approval(&acme, &asked.id, status, "bo", secs(11))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .use_approval(&acme, &asked.id, secs(12))
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_approval(&acme, &asked.id, secs(13))
            .await
            .unwrap(),
        "used once"
    );
    // Expired ones go; a live one stays.
    let live = approval(&acme, &server, "digest-3", 90_000);
    let new = NewApproval {
        approval: live.clone(),
        token_hash: None,
    };
    store.create_approval(&new).await.unwrap();
    assert_eq!(store.delete_expired_approvals(secs(7200)).await.unwrap(), 1);
    assert!(store.get_approval(&acme, &asked.id).await.is_err());
    assert!(store.get_approval(&acme, &live.id).await.is_ok());
}

backend_tests!(an_approval_is_found_decided_used_once_and_deleted_when_expired);
