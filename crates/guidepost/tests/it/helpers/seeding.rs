//! Walkthroughs seeded through core's authoring service, and a database seeded for
//! tests whose nodes are processes.

use guidepost_testkit::TestDatabase;
use serde_json::json;

use super::{Tenant, TestApp, operator, spawn_app};

/// What a database holds after [`seeded_and_stopped`]: the tenant, its server `acme`'s
/// id and its walkthrough.
pub struct Seeded {
    pub tenant: Tenant,
    pub server: String,
    pub walkthrough: SeededWalkthrough,
}

/// Creates tenant Acme, its server `acme` and a walkthrough of `steps` steps assigned to
/// it through an in-process app, then stops the app: the test's nodes are processes.
pub async fn seeded_and_stopped(db: &TestDatabase, steps: usize) -> Seeded {
    let setup = spawn_app(db).await;
    let tenant = setup.create_tenant("Acme").await;
    let server = setup.create_server(&tenant, "acme", json!({})).await;
    let server = server["id"].as_str().unwrap().to_owned();
    let walkthrough = setup
        .seed_walkthrough(&tenant, "Seeded", steps, Some((&server, 1)))
        .await;
    setup.app.shutdown().await.unwrap();
    Seeded {
        tenant,
        server,
        walkthrough,
    }
}

/// A published walkthrough seeded through the authoring service.
pub struct SeededWalkthrough {
    pub id: String,
    pub step_ids: Vec<String>,
}

impl TestApp {
    /// Creates a walkthrough with `steps` steps ("Step 1"…), publishes it and assigns it
    /// to `server_id` (when given) with `display_order`.
    pub async fn seed_walkthrough(
        &self,
        tenant: &Tenant,
        title: &str,
        steps: usize,
        assign_to: Option<(&str, i64)>,
    ) -> SeededWalkthrough {
        use guidepost_core::walkthroughs::authoring::{
            self, AssignWalkthrough, CreateStep, CreateWalkthrough,
        };
        let platform = &self.app.platform;
        let org = &tenant.org;
        let input = CreateWalkthrough {
            title: title.into(),
            description: Some(format!("About {title}")),
            tags: Some(vec!["test".into()]),
            estimated_duration_minutes: Some(5),
            metadata: None,
        };
        let walkthrough = authoring::create(platform, &operator(org), input, None)
            .await
            .expect("walkthrough created");
        let mut step_ids = Vec::new();
        for n in 1..=steps {
            let step = CreateStep {
                title: format!("Step {n}"),
                content: format!("Content of step {n} of {title}."),
                section_title: Some(format!("Part {}", n.div_ceil(2))),
                after_step_id: None,
            };
            step_ids.push(
                authoring::add_step(platform, &operator(org), &walkthrough.id, step)
                    .await
                    .expect("step added")
                    .id
                    .to_string(),
            );
        }
        authoring::publish(platform, &operator(org), &walkthrough.id)
            .await
            .expect("published");
        if let Some((server, display_order)) = assign_to {
            let server = guidepost_domain::Id::parse(server).expect("a server id");
            let input = AssignWalkthrough {
                display_order: Some(display_order),
                is_enabled: Some(true),
            };
            authoring::assign(platform, &operator(org), &server, &walkthrough.id, input)
                .await
                .expect("assigned");
        }
        SeededWalkthrough {
            id: walkthrough.id.to_string(),
            step_ids,
        }
    }
}
