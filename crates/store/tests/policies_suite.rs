//! Call-time policies, on every backend: each publication is the next version of its
//! organization's alone, the newest is in force, and versions list newest first.

mod common;

use guidepost_domain::*;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{new_org, open, secs};

fn publication(org: &OrgId, source: &str, names: &[&str]) -> NewPolicyVersion {
    NewPolicyVersion {
        org_id: org.clone(),
        source: source.to_owned(),
        names: names.iter().map(|name| name.to_string()).collect(),
        published_by: "ada@example.com".to_owned(),
    }
}

async fn versions_count_per_organization_and_the_newest_is_in_force(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    assert!(store.current_policies(&acme).await.unwrap().is_none());

    let first = publication(&acme, "permit(principal, action, resource);", &["policy 1"]);
    let one = store.publish_policies(&first, secs(10)).await.unwrap();
    assert_eq!(
        (one.version, one.names.clone()),
        (1, vec!["policy 1".to_owned()])
    );
    let off = store
        .publish_policies(&publication(&acme, "", &[]), secs(20))
        .await
        .unwrap();
    assert_eq!(off.version, 2);
    // Another organization's numbers are its own.
    let theirs = publication(
        &globex,
        "forbid(principal, action, resource);",
        &["policy 1"],
    );
    assert_eq!(
        store
            .publish_policies(&theirs, secs(30))
            .await
            .unwrap()
            .version,
        1
    );

    let current = store.current_policies(&acme).await.unwrap().unwrap();
    assert_eq!((current.version, current.source.as_str()), (2, ""));
    assert_eq!(current.published_by, "ada@example.com");
    assert_eq!(current.created_at, secs(20));
    let listed: Vec<i64> = store
        .policy_versions(&acme, 10)
        .await
        .unwrap()
        .iter()
        .map(|version| version.version)
        .collect();
    assert_eq!(listed, [2, 1]);
    let old = store.policy_version(&acme, 1).await.unwrap().unwrap();
    assert_eq!(old.source, "permit(principal, action, resource);");
    assert!(store.policy_version(&globex, 2).await.unwrap().is_none());
    let globex_current = store.current_policies(&globex).await.unwrap().unwrap();
    assert_eq!(
        globex_current.source,
        "forbid(principal, action, resource);"
    );
}

backend_tests!(versions_count_per_organization_and_the_newest_is_in_force);
