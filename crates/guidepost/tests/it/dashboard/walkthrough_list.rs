//! The walkthroughs list shows each draft's step count and whether it has unpublished
//! edits, in two statements whatever the number of walkthroughs: the page, then
//! every listed draft beside its published version; not two more per row.

use std::sync::Arc;

use guidepost::config::Settings;
use guidepost_core::Platform;
use guidepost_core::walkthroughs::authoring::{self, CreateStep};
use guidepost_core::walkthroughs::editing;
use guidepost_domain::*;
use guidepost_store::Store;
use guidepost_testkit::{TestDatabase, backend_tests};

use super::{dashboard_app, member};
use crate::oauth_helpers::OAuthApp;

/// Seeds `count` published walkthroughs of 3 steps; every third gets one more step in its
/// draft, so it has an unpublished edit. The titles of those edited.
async fn seed(app: &OAuthApp, from: usize, count: usize) -> Vec<String> {
    let mut edited = Vec::new();
    for n in from..from + count {
        let title = format!("Guide {n:02}");
        let seeded = app.app.seed_walkthrough(&app.tenant, &title, 3, None).await;
        if n % 3 == 0 {
            let id = Id::parse(&seeded.id).unwrap();
            let step = CreateStep {
                title: "Added later".into(),
                content: "Not published yet.".into(),
                section_title: None,
                after_step_id: None,
            };
            let operator = crate::helpers::operator(&app.tenant.org);
            authoring::add_step(&app.app.app.platform, &operator, &id, step)
                .await
                .unwrap();
            edited.push(title);
        }
    }
    edited
}

/// The statements one listing of the first page costs, on a store of its own (so the
/// app's background work is not counted).
async fn statements_of_the_list(db: &TestDatabase, org: &OrgId) -> (u64, usize) {
    let own: Arc<dyn Store> = guidepost_store::connect(&db.url).await.unwrap();
    let (platform, writer) = Platform::new(
        own.clone(),
        Settings::local(db.url.clone()).platform,
        Arc::new(guidepost_auth::IdentityProviders::new(false)),
        Arc::new(guidepost::dns::Dns::new(None)),
        guidepost_gateway::Supervisor::new(Settings::local("").gateway),
        Arc::new(guidepost_auth::UpstreamAuthorizer::new(false)),
    );
    let caller = crate::helpers::operator(org);
    let start = own.statements_executed();
    let listed = editing::list_with_step_counts(&platform, &caller, &PageRequest::first(100))
        .await
        .unwrap();
    let statements = own.statements_executed() - start;
    writer.shutdown().await;
    let unpublished = listed.items.iter().filter(|w| w.unpublished > 0).count();
    assert!(
        listed.items.iter().all(|w| w.steps == 3 || w.steps == 4),
        "step counts"
    );
    (statements, unpublished)
}

backend_tests! {
    async fn the_walkthrough_list_costs_two_statements_for_two_walkthroughs_or_thirty(db: &TestDatabase) {
        let app = dashboard_app(db).await;
        let mut edited = seed(&app, 0, 2).await;
        let few = statements_of_the_list(db, &app.tenant.org).await;
        assert_eq!(few, (2, 1), "(statements, walkthroughs with unpublished edits)");
        edited.extend(seed(&app, 2, 28).await);
        let many = statements_of_the_list(db, &app.tenant.org).await;
        assert_eq!(many, (2, 10));

        // The page marks exactly the edited ones.
        let mut viewer = member(&app, &app.tenant, "vi@acme.example", guidepost_domain::Role::Viewer).await;
        let page = viewer.get("/app/walkthroughs").await.ok().to_owned();
        let marked: Vec<&str> = page
            .split("<tr>")
            .filter(|row| row.contains(">unpublished edits<"))
            .filter_map(|row| row.split("Guide ").nth(1).map(|rest| &rest[..2]))
            .collect();
        let mut expected: Vec<String> = edited.iter().map(|t| t.trim_start_matches("Guide ").to_owned()).collect();
        expected.sort();
        let mut marked: Vec<String> = marked.into_iter().map(str::to_owned).collect();
        marked.sort();
        assert_eq!(marked, expected, "{page}");
    }
}
