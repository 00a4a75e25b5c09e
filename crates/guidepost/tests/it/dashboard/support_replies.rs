//! Replies and internal notes on support requests: a reply, from the API or
//! the dashboard, reaches the mail outbox and the person's follow-up through
//! `get_support`; a note reaches neither; someone else following up on the request learns
//! nothing; and the audit log tells it.

use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{dashboard_app, member};
use crate::helpers::{RawMcp, STATELESS_ERA};

/// The mails in the outbox to `to`.
fn mails_to(outbox: &std::path::Path, to: &str) -> Vec<String> {
    std::fs::read_dir(outbox)
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
                .filter(|mail| mail.contains(&format!("To: {to}")))
                .collect()
        })
        .unwrap_or_default()
}

const FIRST_REPLY: &str = "Sign out and in again, please.";
const SECOND_REPLY: &str = "A fix ships on Friday.";
const NOTE: &str = "Ada runs the old CLI; internal only.";

backend_tests! {
    async fn a_reply_reaches_the_outbox_and_the_persons_follow_up_and_a_note_reaches_neither(db: &TestDatabase) {
        let app = dashboard_app(db).await;
        let key = &app.tenant.key;
        app.app.create_server(&app.tenant, "help", json!({})).await;
        let ada = RawMcp::new(app.app.mcp_path_url("help"), STATELESS_ERA);
        let ask = json!({"title": "Login fails", "problem_description": "The CLI says 401.", "email": "ada@example.com"});
        let opened = ada.call_tool(1, "get_support", ask).await;
        let request = opened.structured()["support_request_id"].as_str().unwrap().to_owned();

        // A reply through the API is mailed to the person.
        let messages = format!("/support-requests/{request}/messages");
        let body = json!({"kind": "reply", "body": FIRST_REPLY});
        let (status, written) = app.app.api(Method::POST, &messages, key, Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{written}");
        assert_eq!(written["mailed"], true, "{written}");
        assert_eq!(written["kind"], "reply", "{written}");
        let mails = mails_to(&app.outbox, "ada@example.com");
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert!(mails[0].contains("Re: Login fails") && mails[0].contains(FIRST_REPLY), "{}", mails[0]);

        // In the dashboard an editor writes a note, then a second reply.
        let mut editor = member(&app, &app.tenant, "ed@acme.example", Role::Editor).await;
        let page = format!("/app/support/{request}/conversation");
        editor.get(&page).await.ok();
        editor.post(&format!("/app/support/{request}/note"), &[("body", NOTE)]).await
            .redirected_to(&format!("{page}?done=saved"));
        editor.get(&page).await.ok();
        editor.post(&format!("/app/support/{request}/reply"), &[("body", SECOND_REPLY)]).await
            .redirected_to(&format!("{page}?sent=yes&done=saved"));
        let mails = mails_to(&app.outbox, "ada@example.com");
        assert_eq!(mails.len(), 2, "the note mails nothing: {mails:?}");
        assert!(mails.iter().all(|m| !m.contains("internal only")), "{mails:?}");

        // Ada's assistant follows up: both replies, in order, and never the note.
        let follow = json!({"title": "Any news?", "problem_description": "Still 401 today.",
            "email": "ada@example.com", "support_request_id": request});
        let answer = ada.call_tool(2, "get_support", follow).await;
        let structured = answer.structured().clone();
        let replies: Vec<&str> = structured["replies"].as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap()).collect();
        assert_eq!(replies, vec![FIRST_REPLY, SECOND_REPLY], "{structured}");
        let text = answer.body["result"]["content"][0]["text"].as_str().unwrap().to_owned();
        assert!(text.contains(FIRST_REPLY) && text.contains(SECOND_REPLY) && !text.contains("internal only"), "{text}");

        // Someone else, with another email, learns nothing of it.
        let bob = RawMcp::new(app.app.mcp_path_url("help"), STATELESS_ERA);
        let prying = json!({"title": "x", "problem_description": "x", "email": "bob@example.com", "support_request_id": request});
        let refused = bob.call_tool(3, "get_support", prying).await.tool_error_text();
        assert!(refused.contains("No support request") && !refused.contains(FIRST_REPLY), "{refused}");

        // The team sees everything, in order, in the API and the dashboard.
        let (_, listed) = app.app.get(&messages, key).await;
        let kinds = |page: &Value| -> Vec<String> {
            page["items"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap().to_owned()).collect()
        };
        assert_eq!(kinds(&listed), ["reply", "note", "reply", "follow_up"], "{listed}");
        assert_eq!(listed["items"][1]["author"], "ed@acme.example", "{listed}");
        // Cursor-paginated like every list: two pages of two, in the same order.
        let (_, first) = app.app.get(&format!("{messages}?limit=2"), key).await;
        let cursor = first["next_cursor"].as_str().expect("a second page");
        let (_, second) = app.app.get(&format!("{messages}?limit=2&cursor={cursor}"), key).await;
        assert_eq!([kinds(&first), kinds(&second)].concat(), kinds(&listed), "{first} {second}");
        assert!(second["next_cursor"].is_null(), "{second}");
        let conversation = editor.get(&page).await.ok().to_owned();
        for text in [FIRST_REPLY, NOTE, SECOND_REPLY, "Still 401 today.", "Internal note", "Their follow-up"] {
            assert!(conversation.contains(text), "{text:?}: {conversation}");
        }
        let mut viewer = member(&app, &app.tenant, "vi@acme.example", Role::Viewer).await;
        let seen = viewer.get(&page).await.ok().to_owned();
        assert!(seen.contains(NOTE) && !seen.contains("<form method=\"post\" action=\"/app/support/"), "{seen}");
        let (_, log) = app.app.get(&format!("/audit-events?object={request}"), key).await;
        let texts: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap()).collect();
        assert_eq!(texts, vec![
            "ed@acme.example replied to the support request “Login fails”.",
            "ed@acme.example added an internal note to the support request “Login fails”.",
            "API key test replied to the support request “Login fails”.",
        ]);
    }
}
