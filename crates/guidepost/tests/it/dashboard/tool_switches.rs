//! A server's tools with a switch each on its page: a plain form turns one tool
//! off on that server, its agents stop seeing it, and the page says it is off; a viewer
//! sees the states but gets no switch, and is refused one.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::StatusCode;
use serde_json::json;

use super::{dashboard_app, member};
use crate::helpers::{personal_client, tool_names};

backend_tests! {
    async fn a_tool_switch_on_the_server_page_hides_the_tool_from_that_servers_agents(db: &TestDatabase) {
        let app = dashboard_app(db).await;
        let server = app.app.create_server(&app.tenant, "docs", json!({})).await;
        let server = server["id"].as_str().unwrap().to_owned();
        let page_path = format!("/app/servers/{server}");
        let names = async || {
            let client = personal_client(&app.app, "docs", "ada");
            tool_names(&client.call(2, "tools/list", json!({})).await)
        };
        assert!(names().await.contains(&"get_support".to_owned()));

        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        let page = editor.get(&page_path).await.ok().to_owned();
        assert!(page.contains("id=\"tool-switch-table\""), "{page}");
        assert!(page.contains("<code>get_support</code>") && page.contains("aria-label=\"Switch off get_support\""), "{page}");

        let switched = editor
            .post(&format!("{page_path}/tools"), &[("name", "get_support"), ("enabled", "false")])
            .await;
        switched.redirected_to(&format!("{page_path}?done=tool-off"));
        assert!(!names().await.contains(&"get_support".to_owned()), "hidden from the server's agents");
        let page = editor.get(&format!("{page_path}?done=tool-off")).await;
        assert!(page.text().contains("Switched off: this server's agents no longer see the tool."), "{}", page.body);
        let page = page.ok().to_owned();
        assert!(page.contains("aria-label=\"Switch on get_support\"") && page.contains("<span class=\"badge warn\">off</span>"), "{page}");

        // On again, through the same form.
        editor
            .post(&format!("{page_path}/tools"), &[("name", "get_support"), ("enabled", "true")])
            .await
            .redirected_to(&format!("{page_path}?done=tool-on"));
        assert!(names().await.contains(&"get_support".to_owned()));

        // A viewer sees the tools and their states, with no switch, and is refused one.
        let mut viewer = member(&app, &app.tenant, "view@acme.example", Role::Viewer).await;
        let page = viewer.get(&page_path).await.ok().to_owned();
        assert!(page.contains("<code>get_support</code>"), "{page}");
        assert!(!page.contains(&format!("action=\"{page_path}/tools\"")), "no switch for a viewer: {page}");
        let refused = viewer
            .post(&format!("{page_path}/tools"), &[("name", "get_support"), ("enabled", "false")])
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(names().await.contains(&"get_support".to_owned()));
    }
}
