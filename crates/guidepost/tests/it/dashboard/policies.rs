//! The gateway's Policies tab: an editor publishes call-time policies from a form (a
//! refused draft comes back in the form with why), tries a call against them, and is
//! warned of a set that permits nothing; a viewer reads the policies in force and the
//! interceptors, and is refused the forms.

use guidepost_core::secrets::MasterKey;
use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{dashboard_app_with, member};

const WORKSPACE_ONLY: &str = r#"permit(principal, action, resource);
@id("files-stay-in-workspace")
@reason("read_file may only read under /workspace/.")
forbid(principal, action, resource)
when { resource.tool == "read_file" }
unless { context.arguments.hasTag("path") && context.arguments.getTag("path") like "/workspace/*" };"#;

backend_tests! {
    async fn an_editor_publishes_and_tries_policies_and_a_viewer_reads_them(db: &TestDatabase) {
        let app = dashboard_app_with(db, |settings| {
            settings.platform.master_key = Some(MasterKey::from_bytes([3; 32]));
        })
        .await;
        let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        let page = editor.get("/app/gateway/policies").await.ok().to_owned();
        assert!(page.contains("None: calls are not evaluated."), "{page}");

        // A typo comes back in the form, with what the schema lacks.
        let typo = r#"@id("typo") forbid(principal, action, resource) when { resource.nmae == "x" };"#;
        let refused = editor.post("/app/gateway/policies", &[("source", typo)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.body.contains("nmae") && refused.body.contains("role=\"alert\""), "{}", refused.body);
        assert!(refused.body.contains("resource.nmae == &#34;x&#34;"), "the draft is kept: {}", refused.body);

        editor
            .post("/app/gateway/policies", &[("source", WORKSPACE_ONLY)])
            .await
            .redirected_to("/app/gateway/policies?done=saved");
        let page = editor.get("/app/gateway/policies").await.ok().to_owned();
        assert!(page.contains("Version 1, published by ed@acme.example"), "{page}");
        assert!(page.contains("files-stay-in-workspace"), "{page}");

        let tried = editor
            .post("/app/gateway/policies/test", &[
                ("server_id", server.as_str()), ("tool", "read_file"),
                ("arguments", r#"{"path": "/etc/passwd"}"#), ("caller", "person"),
                ("email", "ada@example.com"), ("against", "in_force"), ("source", ""),
            ])
            .await;
        let body = tried.ok().to_owned();
        assert!(body.contains("id=\"sample-decision\"") && body.contains(">Refused</p>"), "{body}");
        assert!(body.contains("read_file may only read under /workspace/."), "{body}");
        let allowed = editor
            .post("/app/gateway/policies/test", &[
                ("server_id", server.as_str()), ("tool", "read_file"),
                ("arguments", r#"{"path": "/workspace/a"}"#), ("caller", "anonymous"),
                ("against", "in_force"),
            ])
            .await;
        assert!(allowed.ok().contains(">Allowed</p>"), "{}", allowed.body);

        // A draft on a person's groups and role, tried as an on-call editor and as nobody
        // in particular: the form's groups and role reach the policies.
        let oncall = r#"permit(principal, action, resource);
@id("oncall-editors") forbid(principal, action, resource)
unless { principal is Guidepost::Person && principal.groups.contains("oncall")
         && principal has role && principal.role == "editor" };"#;
        let try_as = |groups: &'static str, role: &'static str| {
            [("server_id", server.clone()), ("tool", "read_file".into()), ("arguments", "{}".into()),
             ("caller", "person".into()), ("email", "ada@example.com".into()), ("groups", groups.into()),
             ("role", role.into()), ("against", "draft".into()), ("source", oncall.into())]
        };
        for (groups, role, verdict) in [("eng, oncall", "editor", ">Allowed</p>"),
                                        ("eng", "editor", ">Refused</p>"), ("oncall", "", ">Refused</p>")] {
            let fields = try_as(groups, role);
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let tried = editor.post("/app/gateway/policies/test", &fields).await;
            assert!(tried.ok().contains(verdict), "{groups}/{role}: {}", tried.body);
        }

        // A set that permits nothing is published, with a warning on the page.
        let forbid_only = r#"forbid(principal, action, resource) when { resource.tool == "x" };"#;
        let warned = editor.post("/app/gateway/policies", &[("source", forbid_only)]).await;
        assert!(warned.ok().contains("every call is refused"), "{}", warned.body);

        let judge = json!({"name": "judge", "url": "https://judge.acme.example/calls",
            "phases": ["request", "result"], "on_failure": "closed", "timeout_ms": 500});
        let (status, created) = app.app.api(Method::POST, "/interceptors", &app.tenant.key, Some(judge)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;
        let page = viewer.get("/app/gateway/policies").await.ok().to_owned();
        assert!(page.contains("<td>judge</td><td><code>https://judge.acme.example/calls</code></td>\
            <td>request and result; enforced; waits 500 ms, then refuses the call</td>"), "{page}");
        assert!(page.contains("Version 2, published by ed@acme.example"), "{page}");
        assert!(!page.contains("action=\"/app/gateway/policies\""), "no form for a viewer: {page}");
        let refused = viewer.post("/app/gateway/policies", &[("source", "")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    }
}
