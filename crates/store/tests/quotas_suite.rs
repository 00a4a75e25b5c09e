//! Call quotas, on every backend: rules per organization, and counts that stop at their
//! limit, all or none, per counter and window, apart per organization.

mod common;

use guidepost_domain::*;
use guidepost_store::QuotaCounter;
use guidepost_testkit::{TestDatabase, backend_tests};

use common::{new_org, open, secs};

fn counter(name: &str, window_start: i64, limit: u32) -> QuotaCounter {
    QuotaCounter {
        name: name.to_owned(),
        window_start: secs(window_start),
        limit,
    }
}

async fn rules_are_kept_per_organization(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    assert_eq!(
        store.call_quotas(&acme).await.unwrap(),
        CallQuotas::default()
    );
    let rules = CallQuotas {
        rules: vec![QuotaRule {
            target: QuotaTarget::Upstream {
                prefix: "fx".into(),
            },
            limit: 5,
            window: QuotaWindow::Hour,
        }],
    };
    store.set_call_quotas(&acme, &rules, secs(1)).await.unwrap();
    assert_eq!(store.call_quotas(&acme).await.unwrap(), rules);
    assert_eq!(
        store.call_quotas(&globex).await.unwrap(),
        CallQuotas::default()
    );
    store
        .set_call_quotas(&acme, &CallQuotas::default(), secs(2))
        .await
        .unwrap();
    assert!(store.call_quotas(&acme).await.unwrap().rules.is_empty());
}

async fn counts_stop_at_the_limit_all_or_none(db: &TestDatabase) {
    let store = open(db).await;
    let acme = new_org(&store, "Acme").await;
    let globex = new_org(&store, "Globex").await;
    let tool = counter("tool:x/hour|person:1", 3600, 2);
    let any = counter("any/hour|person:1", 3600, 3);
    for _ in 0..2 {
        let both = [tool.clone(), any.clone()];
        assert_eq!(store.count_quota_call(&acme, &both).await.unwrap(), None);
    }
    // The tool's counter is full: nothing is counted, not even on `any`.
    let both = [any.clone(), tool.clone()];
    assert_eq!(store.count_quota_call(&acme, &both).await.unwrap(), Some(1));
    assert_eq!(
        store
            .count_quota_call(&acme, std::slice::from_ref(&any))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .count_quota_call(&acme, std::slice::from_ref(&any))
            .await
            .unwrap(),
        Some(0)
    );
    // Another caller, another organization and the next window count apart.
    let other = counter("tool:x/hour|person:2", 3600, 2);
    assert_eq!(store.count_quota_call(&acme, &[other]).await.unwrap(), None);
    assert_eq!(
        store
            .count_quota_call(&globex, std::slice::from_ref(&tool))
            .await
            .unwrap(),
        None
    );
    let next = counter("tool:x/hour|person:1", 7200, 2);
    assert_eq!(
        store
            .count_quota_call(&acme, std::slice::from_ref(&next))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.count_quota_call(&acme, &[next]).await.unwrap(), None);
    // Old windows are deleted as they expire.
    assert!(store.delete_expired_quota_counts(secs(7200)).await.unwrap() >= 2);
    assert_eq!(
        store.delete_expired_quota_counts(secs(7200)).await.unwrap(),
        0
    );
}

backend_tests!(
    rules_are_kept_per_organization,
    counts_stop_at_the_limit_all_or_none,
);
