//! The gateway's records in the store, on every backend: upstreams kept inside their
//! organization, tools replaced whole in the upstream's order (and only if unchanged since
//! they were judged, when asked so), attachments unique by prefix on a server, a server's
//! attachments read in one statement; and a registry's sync lease.

mod common;

use std::collections::BTreeMap;

use common::*;
use guidepost_domain::*;
use guidepost_testkit::{TestDatabase, backend_tests};

fn npm(package: &str) -> NewUpstream {
    NewUpstream {
        name: package.into(),
        start: StartMode::OnDemand,
        replicas: 1,
        catalog_entry_id: Some(package.into()),
        catalog_entry_version: None,
        spec: LaunchSpec::Npm(PackageSpec {
            package: package.into(),
            version: "1.0.0".into(),
            bin: None,
            args: vec![],
            env: BTreeMap::new(),
            network: Network::None,
            limits: Default::default(),
        }),
        secrets_sealed: BTreeMap::new(),
        config: BTreeMap::new(),
    }
}

fn tool(name: &str) -> UpstreamTool {
    // The suites' own `json!` (a record's serialized form) is not used here.
    let _ = |tool: &UpstreamTool| json!(tool);
    let definition = serde_json::json!({"name": name, "inputSchema": {"type": "object"}});
    UpstreamTool {
        kind: DefinitionKind::Tool,
        name: name.into(),
        definition_hash: definition_hash(&definition),
        definition,
        state: ToolState::Approved,
        findings: Vec::new(),
    }
}

fn attachment(server: &ServerId, upstream: &UpstreamId, prefix: &str) -> Attachment {
    Attachment {
        server_id: server.clone(),
        upstream_id: upstream.clone(),
        prefix: prefix.into(),
        allowed_tools: None,
        allowed_prompts: None,
        timeout_ms: 60_000,
        attached_at: Timestamp::now(),
    }
}

backend_tests! {
    async fn upstreams_their_tools_and_attachments_stay_in_their_organization(db: &TestDatabase) {
        let store = open(db).await;
        let org = new_org(&store, "Acme").await;
        let other = new_org(&store, "Other").await;
        let server = new_server(&store, &org, "acme").await;
        let their_server = new_server(&store, &other, "other").await;
        let first = store.create_upstream(&org, &npm("first")).await.unwrap();
        let second = store.create_upstream(&org, &npm("second")).await.unwrap();
        assert_eq!(first.status, UpstreamStatus::Installing);
        assert_not_found(store.get_upstream(&other, &first.id).await, "another organization's upstream");
        assert!(store.list_upstreams(&other).await.unwrap().is_empty());

        store.replace_upstream_tools(&org, &first.id, DefinitionKind::Tool, &[tool("b"), tool("a")]).await.unwrap();
        let names: Vec<String> = store.list_upstream_tools(&org, &first.id).await.unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["b", "a"], "in the upstream's order");
        store.replace_upstream_tools(&org, &first.id, DefinitionKind::Tool, &[tool("c")]).await.unwrap();
        assert_eq!(store.list_upstream_tools(&org, &first.id).await.unwrap().len(), 1, "replaced whole");

        store.attach_upstream(&org, &attachment(&server.id, &first.id, "one")).await.unwrap();
        assert_conflict(store.attach_upstream(&org, &attachment(&server.id, &second.id, "one")).await, "prefix");
        store.attach_upstream(&org, &attachment(&server.id, &second.id, "two")).await.unwrap();
        assert_not_found(
            store.attach_upstream(&other, &attachment(&their_server.id, &first.id, "x")).await,
            "attaching another organization's upstream",
        );
        assert_not_found(
            store.attach_upstream(&org, &attachment(&their_server.id, &first.id, "x")).await,
            "attaching to another organization's server",
        );

        let before = store.statements_executed();
        let attached = store.attached_upstreams(&org, &server.id).await.unwrap();
        assert_eq!(store.statements_executed() - before, 1, "one statement");
        assert_eq!(attached.len(), 2);
        assert_eq!(attached[0].upstream.id, first.id);
        assert_eq!(attached[0].tools.len(), 1);
        assert_eq!(attached[1].upstream.id, second.id);
        assert!(attached[1].tools.is_empty(), "an upstream with no tools yet is still attached");
        assert!(store.attached_upstreams(&other, &server.id).await.unwrap().is_empty());
        // A call reads the tools alone: a prompt of the upstream is not in that read.
        store.replace_upstream_tools(&org, &first.id, DefinitionKind::Prompt, &[tool("p")]).await.unwrap();
        let with_features = store.attached_upstreams(&org, &server.id).await.unwrap();
        assert_eq!((with_features[0].tools.len(), with_features[0].features.len()), (1, 1));
        let before = store.statements_executed();
        let tools_only = store.attached_upstream_tools(&org, &server.id).await.unwrap();
        assert_eq!(store.statements_executed() - before, 1, "one statement");
        assert_eq!(tools_only.len(), 2, "every attachment, with tools or without");
        assert_eq!((tools_only[0].tools.len(), tools_only[0].features.len()), (1, 0));
        assert_eq!(tools_only[0].tools[0].name, "c");
        assert!(tools_only[1].tools.is_empty());
        assert!(store.attached_upstream_tools(&other, &server.id).await.unwrap().is_empty());
        assert_eq!(store.servers_attaching(&org, &first.id).await.unwrap(), vec![server.id.clone()]);
        assert!(store.servers_attaching(&other, &first.id).await.unwrap().is_empty());

        store.set_upstream_status(&org, &first.id, UpstreamStatus::Ready, None, None, 2).await.unwrap();
        assert_not_found(
            store.set_upstream_status(&other, &first.id, UpstreamStatus::Failed, None, None, 0).await,
            "another organization's status write",
        );
        let read = store.get_upstream(&org, &first.id).await.unwrap();
        assert_eq!((read.status, read.restarts), (UpstreamStatus::Ready, 2));

        assert_not_found(store.delete_upstream(&other, &first.id).await, "another organization's uninstall");
        store.delete_upstream(&org, &first.id).await.unwrap();
        let attached = store.attached_upstreams(&org, &server.id).await.unwrap();
        assert_eq!(attached.len(), 1, "its attachments went with it");
        assert!(store.list_upstream_tools(&org, &first.id).await.unwrap().is_empty());
    }

    async fn a_registry_is_synced_by_one_node_at_a_time_and_only_when_due(db: &TestDatabase) {
        let store = open(db).await;
        let source = "https://registry.example.com";
        let claim = |now: i64, due_before: i64| {
            let store = store.clone();
            async move { store.claim_registry_sync(source, secs(now), secs(due_before), secs(now + 600)).await.unwrap() }
        };
        let finished = |updated_since: Option<i64>, error: Option<&str>| RegistrySyncOutcome {
            updated_since: updated_since.map(secs),
            error: error.map(str::to_owned),
            received: 1,
            requests: 1,
            skipped: 0,
        };

        // Never synced: one of eight nodes at once takes the lease, with no mark yet.
        let racing: Vec<_> = (0..8).map(|_| tokio::spawn(claim(0, 0))).collect();
        let mut claims = Vec::new();
        for node in racing {
            claims.extend(node.await.unwrap());
        }
        assert_eq!(claims, [None], "one claim, no mark yet");
        // Held for its lease (600 s): nobody else, even when due; past it (the node
        // died), another node takes over.
        assert_eq!(claim(599, 599).await, None, "leased");
        assert_eq!(claim(601, 601).await, Some(None), "the lease ran out");
        store.finish_registry_sync(source, &finished(Some(500), None), secs(602)).await.unwrap();

        // Due only once its interval after the last finish is over.
        assert_eq!(claim(700, 602).await, None, "finished at 602, due for syncs finished before 602");
        assert_eq!(claim(700, 603).await, Some(Some(secs(500))), "due: asks for what changed since its mark");
        // A failed sync gives its lease back and keeps the mark (what it missed is asked again).
        store.finish_registry_sync(source, &finished(None, Some("502 Bad Gateway")), secs(701)).await.unwrap();
        assert_eq!(claim(800, 800).await, Some(Some(secs(500))));
        let syncs = store.list_registry_syncs().await.unwrap();
        assert_eq!(syncs.len(), 1, "{syncs:?}");
    }

    async fn a_replacement_of_tools_judged_on_what_changed_since_writes_nothing(db: &TestDatabase) {
        let store = open(db).await;
        let org = new_org(&store, "Acme").await;
        let upstream = store.create_upstream(&org, &npm("first")).await.unwrap();
        let names = async || -> Vec<String> {
            let tools = store.list_upstream_tools(&org, &upstream.id).await.unwrap();
            tools.into_iter().map(|t| t.name).collect()
        };
        let replace = |seen: Vec<UpstreamTool>, tools: Vec<UpstreamTool>| {
            let (store, org, id) = (store.clone(), org.clone(), upstream.id.clone());
            async move {
                store.replace_upstream_tools_if_unchanged(&org, &id, DefinitionKind::Tool, &seen, &tools).await
            }
        };

        // Eight discoveries (as of eight nodes) judged the same empty list at once: one
        // stores its tools, the others find them changed, and none fails.
        let racing: Vec<_> = (0..8).map(|n| tokio::spawn(replace(vec![], vec![tool(&format!("t{n}"))]))).collect();
        let mut stored = 0;
        for discovery in racing {
            stored += usize::from(discovery.await.unwrap().unwrap());
        }
        assert_eq!(stored, 1, "exactly one discovery stored its tools");
        assert_eq!(names().await.len(), 1, "{:?}", names().await);

        // Judged on what is stored: replaced. On what was stored before: nothing written.
        let seen = store.list_upstream_tools(&org, &upstream.id).await.unwrap();
        assert!(replace(seen.clone(), vec![tool("b"), tool("a")]).await.unwrap());
        assert_eq!(names().await, ["b", "a"]);
        assert!(!replace(seen, vec![tool("c")]).await.unwrap(), "judged on tools stored no more");
        assert_eq!(names().await, ["b", "a"], "nothing written");
        // A decision since (a state changed) counts as a change too.
        let seen = store.list_upstream_tools(&org, &upstream.id).await.unwrap();
        store.decide_tool(&org, &upstream.id, DefinitionKind::Tool, "a", ToolState::Rejected).await.unwrap();
        assert!(!replace(seen, vec![tool("c")]).await.unwrap(), "judged before the decision");
        // Another upstream's or kind's definitions are not what it compares.
        let prompts = store.list_upstream_tools(&org, &upstream.id).await.unwrap();
        let prompts_seen: Vec<UpstreamTool> = prompts.into_iter().filter(|t| t.kind == DefinitionKind::Prompt).collect();
        let prompt = UpstreamTool { kind: DefinitionKind::Prompt, ..tool("p") };
        let stored = store.replace_upstream_tools_if_unchanged(&org, &upstream.id, DefinitionKind::Prompt, &prompts_seen, &[prompt]).await;
        assert!(stored.unwrap(), "no prompts were seen, and none are stored");
    }
}
