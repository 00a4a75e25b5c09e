//! Feedback in the dashboard: a server created by form with `send_feedback` ticked offers
//! it; what people send is listed under Support, newest first, with the count and average
//! of each day; another organization's member sees none of it.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use serde_json::json;

use super::analytics::table_rows;
use super::{dashboard_app, member};
use crate::helpers::{RawMcp, STATELESS_ERA};

async fn feedback_is_turned_on_by_form_and_listed_with_its_days(db: &TestDatabase) {
    let app = dashboard_app(db).await;
    let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
    editor.get("/app/servers/new").await;
    let fields = [
        ("name", "Docs"),
        ("slug", "docs"),
        ("auth_mode", "none"),
        ("feedback_tool_enabled", "on"),
    ];
    editor
        .post("/app/servers", &fields)
        .await
        .redirected_to("/app/servers/ms_");

    let mcp = RawMcp::new(app.app.mcp_path_url("docs"), STATELESS_ERA);
    let texts = [
        (4, "Quick to set up."),
        (1, "The <b>token</b> step failed."),
    ];
    for (id, (rating, text)) in texts.iter().enumerate() {
        let sent = mcp
            .call_tool(
                id as i64,
                "send_feedback",
                json!({"rating": rating, "text": text}),
            )
            .await;
        sent.structured();
    }

    let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
    let page = viewer.get("/app/support/feedback").await.ok().to_owned();
    let rows = table_rows(&page, "feedback");
    let shown: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    let escaped = "The &#60;b&#62;token&#60;/b&#62; step failed.";
    assert_eq!(
        shown,
        [("1 of 5", escaped), ("4 of 5", "Quick to set up.")],
        "{page}"
    );
    assert!(
        !page.contains("<b>token</b>"),
        "people's words are escaped: {page}"
    );
    let today = &guidepost_domain::Timestamp::now().to_rfc3339()[..10];
    let days = table_rows(&page, "feedback-days");
    assert_eq!(
        days,
        [vec![
            today.to_owned(),
            "2".to_owned(),
            "2.5 of 5".to_owned()
        ]],
        "{page}"
    );
    let inbox = viewer.get("/app/support").await.ok().to_owned();
    assert!(
        inbox.contains("href=\"/app/support/feedback\""),
        "linked from Support: {inbox}"
    );

    let other = app.app.create_tenant("Other").await;
    let mut stranger = member(&app, &other, "st@other.example", Role::Owner).await;
    let theirs = stranger.get("/app/support/feedback").await.ok().to_owned();
    assert!(theirs.contains("No feedback matches."), "{theirs}");
    assert!(!theirs.contains("Quick to set up."), "{theirs}");
}

backend_tests!(feedback_is_turned_on_by_form_and_listed_with_its_days);
